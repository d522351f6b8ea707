"""The streaming score (docs/streaming_score.md) on a tiny shapes-world run: score judges each plan's rollout part
while the rollout is still writing the next ones, and ends with the batch path's table; the rollout's committed
artifact is the one written without streaming; a rollout that fails mid-way fails the score naming the missing
part; with everything committed nothing runs again. Overlap is shown by store state, never by timing."""

from __future__ import annotations

import posixpath
import threading

import pytest
import torch
from shapes_fixtures import TINY_SHAPES, bootstrap_tiny_run

import stages.score as score_stage
from plotline.config import load_config
from plotline.store import RunStore
from plotline.store.parts import PARTS_DIR, PartMissing, PartWriter
from stages.base import run_stage

torch.set_num_threads(1)
STREAM = [
    "orchestration.stream_score=on",
    "orchestration.gpu_slots=0",
    "orchestration.stream_timeout_s=60",
    "orchestration.stream_poll_s=0.02",
]


def _config(cfg, extra):
    out = load_config(["configs/shapes.yaml"], [*TINY_SHAPES, *extra])
    out.storage = cfg.storage
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg, run, _ = bootstrap_tiny_run(tmp_path_factory.mktemp("stream"))
    run_stage("plan", cfg, run, 0, show_progress=False)
    return cfg, run


def _in_thread(fn):
    """Start `fn` in a thread; return (thread, result box) — the box holds `value` or `error`."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _rows(art):
    """The scores rows without the measured latencies (wall-clock, the one column that differs by run)."""
    return [{k: v for k, v in r.items() if k != "latency_s"} for r in art.read_table("scores.parquet").to_pylist()]


def _same_files(a, b):
    """Both artifacts list the same files with the same content: bytes for videos and tables, tensors and
    metadata for safetensors (whose stamp names the version, v0 vs the forced v1)."""
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        if not name.endswith(".safetensors"):
            assert a.read_bytes(name) == b.read_bytes(name), name
            continue
        ta, tb = a.read_tensors(name), b.read_tensors(name)
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), name
        meta = [{k: v for k, v in x.tensor_metadata(name).items() if k != "plotline.version"} for x in (a, b)]
        assert meta[0] == meta[1], name


def test_streaming_score_overlaps_the_rollout_and_equals_the_batch_table(tiny, monkeypatch):
    cfg, run = tiny
    stream = _config(cfg, STREAM)
    store = RunStore(run, cfg.storage)
    n_plans = store.latest("plan", 0).read_table("plans.parquet").num_rows
    assert n_plans >= 2
    judged_first, seen = threading.Event(), {}
    commit = PartWriter.commit

    def held_commit(self, key, entries, rows):  # the rollout waits after its first part until score judged it
        commit(self, key, entries, rows)
        if self.count == 1:
            assert judged_first.wait(60), "score never judged plan 0"

    prepare = score_stage.Judging.prepare

    def spying_prepare(self, rows, art, ctx):  # what the store holds when score judges plan 0's part
        if "parts" not in seen:
            attempt = posixpath.join(art.prefix, art.manifest.attempt, PARTS_DIR)
            seen["parts"] = sorted(f for f in store.fs.list_children(attempt)[1] if f[0].isdigit())
            seen["rollout_committed"] = store.latest("rollout", 0) is not None
            seen["plans"] = {r["plan_id"] for r in rows}
            judged_first.set()
        return prepare(self, rows, art, ctx)

    monkeypatch.setattr(PartWriter, "commit", held_commit)
    monkeypatch.setattr(score_stage.Judging, "prepare", spying_prepare)
    thread, box = _in_thread(lambda: run_stage("rollout", stream, run, 0, show_progress=False))
    scored = run_stage("score", stream, run, 0, show_progress=False)
    thread.join(120)
    assert "error" not in box, box.get("error")
    rollout = box["value"]
    # plan 0 was judged while only its part was visible and the rollout had not committed
    assert seen["parts"] == ["00000.json", "00000.parquet"] and seen["rollout_committed"] is False
    first_plan = store.latest("plan", 0).read_table("plans.parquet").to_pylist()[0]["plan_id"]
    assert seen["plans"] == {first_plan}
    assert scored.status == "committed" and scored.artifact.manifest.summary["stream"]["parts_before_commit"] >= 1
    assert [r.key for r in scored.artifact.manifest.inputs if r.key == "rollouts"] == ["rollouts"]
    assert next(r for r in scored.artifact.manifest.inputs if r.key == "rollouts").manifest_id == (
        rollout.manifest.manifest_id
    )
    monkeypatch.undo()

    # the batch path, on the same committed rollout: the same table row for row
    batch = run_stage("score", cfg, run, 0, force=True, show_progress=False)
    assert batch.artifact.manifest.input_digest == scored.artifact.manifest.input_digest
    assert _rows(batch.artifact) == _rows(scored.artifact)
    # everything committed: a rerun with streaming on starts nothing (rollout and score skipped)
    assert run_stage("rollout", stream, run, 0, show_progress=False).status == "skipped"
    again = run_stage("score", stream, run, 0, show_progress=False)
    assert again.status == "skipped" and again.artifact.manifest.version == batch.artifact.manifest.version
    # the committed rollout holds no parts and equals one rolled out without streaming
    assert not any(PARTS_DIR in f for f in store.fs.list_files(rollout.artifact.prefix))
    plain = run_stage("rollout", cfg, run, 0, force=True, show_progress=False)
    _same_files(plain.artifact, rollout.artifact)


def test_a_rollout_failing_mid_way_fails_the_streaming_score_naming_the_missing_part(tmp_path, monkeypatch):
    cfg, run, _ = bootstrap_tiny_run(tmp_path)
    run_stage("plan", cfg, run, 0, show_progress=False)
    stream = _config(cfg, STREAM)
    store = RunStore(run, cfg.storage)
    plans = store.latest("plan", 0).read_table("plans.parquet").to_pylist()
    commit = PartWriter.commit

    def failing_commit(self, key, entries, rows):
        if self.count == 1:
            raise RuntimeError("executor crashed")
        commit(self, key, entries, rows)

    monkeypatch.setattr(PartWriter, "commit", failing_commit)
    thread, box = _in_thread(lambda: run_stage("rollout", stream, run, 0, show_progress=False))
    with pytest.raises(PartMissing, match=rf"part 1 \('{plans[1]['plan_id']}'\) of rollout step 0 .* never appeared"):
        run_stage("score", stream, run, 0, show_progress=False)
    thread.join(120)
    assert "executor crashed" in str(box.get("error"))
    assert store.latest("rollout", 0) is None and store.latest("score", 0) is None
    assert store.latest("plan", 0) is not None  # what was committed stays


def test_streaming_score_without_a_rollout_times_out_naming_the_part(tiny):
    cfg, run = tiny
    stream = _config(cfg, [*STREAM[:2], "orchestration.stream_timeout_s=0.3", "orchestration.stream_poll_s=0.05"])
    store = RunStore(run, cfg.storage)
    first = store.latest("plan", 0).read_table("plans.parquet").to_pylist()[0]["plan_id"]
    step = 7  # no rollout at this step: plans are pinned from step 0
    with pytest.raises(PartMissing, match=rf"part 0 \('{first}'\) of rollout step {step} .*within 0.3 s"):
        run_stage(
            "score",
            stream,
            run,
            step,
            pinned_inputs={"plans": store.latest("plan", 0).prefix},
            show_progress=False,
        )
    assert store.latest("score", step) is None
