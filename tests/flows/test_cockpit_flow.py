"""A one-step shapes train under the session's Prefect test API, with the store served by the file server of
`plotline ui`: the artifacts read back through the Prefect client hold correct judge-failure counts (every reply
`ok` -> 0 unscored), a sample-chain table whose rows join reward, group statistics and advantage exactly as the
advantages table has them, and links (manifest, filmstrip, GIF) that a GET over loopback answers; no file://."""

from __future__ import annotations

import httpx
import pytest

from plotline.store import RunStore

pytestmark = pytest.mark.slow  # a real one-step shapes train under the Prefect test API (about a minute)

FAST = [
    "world.num_train_instructions=2",
    "world.bootstrap.planner.steps=2",
    "world.bootstrap.planner.sft_instructions=4",
    "world.bootstrap.executor.steps=2",
    "world.bootstrap.executor.pool_size=16",
    "planner.batch_size=8",
    "orchestration.final_stages=[]",
    "orchestration.stage_retries=0",
    "orchestration.audit_samples=4",
    "orchestration.progress_interval_s=0",
]


def test_one_step_train_publishes_joined_samples_and_working_links(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.artifacts import stage_keys
    from flows.file_server import FileServer
    from flows.train import train_flow
    from plotline.config import load_config

    root = tmp_path / "runs"
    root.mkdir()
    cfg = load_config(["configs/shapes.yaml"], [*FAST, f"storage.root={root}"])
    server = FileServer(root).start()
    try:
        run = str(root / "cockpit")
        state = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1, return_state=True)
        assert state.is_completed(), state.message
        score_keys, adv_keys = stage_keys("cockpit", "score"), stage_keys("cockpit", "advantage")
        wanted = [score_keys["judges"], score_keys["manifest"], adv_keys["chain"]]
        with get_client(sync_client=True) as client:
            arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=wanted)))
        latest = {a.key: a for a in sorted(arts, key=lambda a: a.created)}
        assert set(wanted) <= set(latest), set(wanted) - set(latest)

        store = RunStore(run)
        scores = store.latest("score", 0).read_table("scores.parquet").to_pandas()
        failures = {r["judge"]: r for r in _table(latest[score_keys["judges"]].data)}
        for judge, rows in scores.groupby("judge"):
            unscored = int((rows.status == "unscored").sum())
            assert failures[judge]["items"] == len(rows) and failures[judge]["unscored"] == unscored
            assert failures[judge]["scored"] == len(rows) - unscored
        assert (scores.status != "unscored").all() and all(r["unscored"] == 0 for r in failures.values())

        adv = store.latest("advantage", 0).read_table("advantages.parquet").to_pandas()
        chain = _table(latest[adv_keys["chain"]].data)
        assert sorted(r["sample_id"] for r in chain) == sorted(adv.sample_id)
        for r in chain:
            a = adv[(adv.sample_id == r["sample_id"]) & (adv.role == r["role"])].iloc[0]
            assert r["reward"] == pytest.approx(a.reward, rel=1e-5) and r["advantage"] == pytest.approx(
                a.advantage, abs=1e-5
            )
            group = adv[(adv.role == a.role) & (adv.group_id == a.group_id)].reward
            assert r["group"] == a.group_id and r["group_mean"] == pytest.approx(group.mean(), rel=1e-5)

        import re

        manifest_link = re.fullmatch(r"\[.*\]\((.*)\)", latest[score_keys["manifest"]].data).group(1)
        with_pictures = [r for r in chain if r["filmstrip"]]
        assert len(with_pictures) >= 4
        links = [manifest_link, with_pictures[0]["filmstrip"], with_pictures[0]["gif"]]
        assert all(link.startswith(server.url) for link in links), links
        got = [httpx.get(link, timeout=10) for link in links]
        assert [g.status_code for g in got] == [200, 200, 200]
        assert got[1].content[:8] == b"\x89PNG\r\n\x1a\n" and got[2].content[:6] in (b"GIF89a", b"GIF87a")
        assert all("file://" not in str(a.data) for a in latest.values())
    finally:
        server.stop()


def _table(data):
    import json

    rows = json.loads(data) if isinstance(data, str) else data
    return rows
