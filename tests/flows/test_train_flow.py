"""The train flow under a real Prefect API (the session's test harness): flow runs, task states, artifacts and
committed manifests for two steps; resuming without redoing committed stages."""

from __future__ import annotations

import pytest

from plotline.config import load_config
from plotline.store import RunStore
from stages.base import InputSpec, StageSpec, register
from tests.flows.helpers import plugin_config, read_calls

CALLS: list[int] = []


def _metric(ctx):
    CALLS.append(ctx.step)
    prev = ctx.inputs["previous"]
    value = 0.0 if prev is None else prev.read_table("m.parquet").column("value")[0].as_py() + 1.0
    ctx.output.write_table(
        "m.parquet", "update_metrics", [{"role": "planner", "iteration": 0, "metric": "counter", "value": value}]
    )
    ctx.output.summary["counter"] = value


register(
    StageSpec(
        name="test_counter",
        summary="counts steps",
        outputs=("update_metrics",),
        inputs=(
            InputSpec("instructions", stage="instructions", fixed_step=0),
            InputSpec("previous", stage="test_counter", step_offset=-1),
        ),
        config_sections=("seed",),
        run=_metric,
    )
)


def _final(ctx):
    FINAL.append(ctx.step)
    counter = ctx.inputs["counter"].manifest.summary["counter"]
    ctx.output.write_table(
        "f.parquet", "update_metrics", [{"role": "planner", "iteration": 0, "metric": "final", "value": counter}]
    )


FINAL: list[int] = []
register(
    StageSpec(
        name="test_final",
        summary="reads the last step's counter",
        outputs=("update_metrics",),
        inputs=(InputSpec("counter", stage="test_counter"),),
        config_sections=("seed",),
        run=_final,
    )
)


@pytest.fixture
def flow_config(tmp_path):
    """Instructions from a one-line CSV, then the module's counter stage at every step."""
    prompts = tmp_path / "p.csv"
    prompts.write_text('prompt\n"a cube spins, then stops"\n')
    return load_config(
        overrides=[
            "data.source=file",
            f"data.path={prompts}",
            "orchestration.step_stages=[test_counter]",
            "orchestration.stage_retries=0",
            "orchestration.audit=false",
        ]
    )


def test_train_flow_runs_steps_and_resumes(prefect_harness, flow_config, tmp_path):
    from flows.train import train_flow

    run = str(tmp_path / "runs" / "flow")
    CALLS.clear()
    records = train_flow(config=flow_config.model_dump(mode="json"), run_uri=run, steps=2)
    assert [(r["stage"], r["step"], r["status"]) for r in records] == [
        ("instructions", 0, "committed"),
        ("test_counter", 0, "committed"),
        ("test_counter", 1, "committed"),
    ]
    assert CALLS == [0, 1]
    store = RunStore(run)
    assert store.latest("test_counter", 1).manifest.summary["counter"] == 1.0
    # resume with one more step: committed stages are skipped, only step 2 runs
    records = train_flow(config=flow_config.model_dump(mode="json"), run_uri=run, steps=3)
    assert [r["status"] for r in records] == ["skipped", "skipped", "skipped", "committed"]
    assert CALLS == [0, 1, 2] and store.latest("test_counter", 2).manifest.summary["counter"] == 2.0


def test_final_stages_run_once_at_the_last_step(prefect_harness, flow_config, tmp_path):
    from flows.train import stage_sequence, train_flow

    cfg = flow_config.model_copy(deep=True)
    cfg.orchestration.final_stages = ["test_final"]
    assert stage_sequence(cfg, 2)[-2:] == [("test_counter", 1), ("test_final", 1)]
    assert stage_sequence(cfg, 0) == [("instructions", 0)]
    run = str(tmp_path / "runs" / "final")
    CALLS.clear()
    FINAL.clear()
    records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=2)
    assert [(r["stage"], r["step"]) for r in records][-2:] == [("test_counter", 1), ("test_final", 1)]
    assert CALLS == [0, 1] and FINAL == [1]
    final = RunStore(run).latest("test_final", 1).read_table("f.parquet").column("value")[0].as_py()
    assert final == 1.0  # it read the counter of the last step
    # one more step: the final stage runs again at the new last step, nothing else is redone
    records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=3)
    assert CALLS == [0, 1, 2] and FINAL == [1, 2]
    cfg.orchestration.final_stages = ["no_such_final"]
    with pytest.raises(ValueError, match=r"no_such_final"):
        train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=3)


def test_train_flow_names_missing_stages(prefect_harness, flow_config, tmp_path):
    from flows.train import train_flow

    cfg = flow_config.model_copy(deep=True)
    cfg.orchestration.step_stages = ["no_such_stage"]
    with pytest.raises(ValueError, match=r"\['no_such_stage'\] are not available"):
        train_flow(config=cfg.model_dump(mode="json"), run_uri=str(tmp_path / "r"), steps=1)


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _child_flow_runs(client, parent_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
    )


def test_two_steps_flow_runs_tasks_artifacts_manifests(prefect_harness, tmp_path, calls):
    """Two steps of instructions + t_seed + t_metrics: every stage a subflow with Completed tasks, the audit artifacts
    under their keys, manifests committed with lineage; a rerun starts nothing."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    from flows.artifacts import curve_key, stage_keys
    from flows.train import train_flow

    prompts = tmp_path / "p.csv"
    prompts.write_text('prompt\n"a ball rolls, then stops"\n"first a bird flies, then lands"\n')
    cfg = plugin_config(
        "data.source=file",
        f"data.path={prompts}",
        "orchestration.setup_stages=[instructions]",
        "orchestration.step_stages=[t_seed,t_metrics]",
        "orchestration.gpu_stages=[t_metrics]",
        "orchestration.gpu_slots=1",
    )
    run = str(tmp_path / "runs" / "audit-run")
    state = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=2, return_state=True)
    assert state.is_completed(), state.message
    records = state.result()
    assert [(r["stage"], r["step"], r["status"]) for r in records] == [
        ("instructions", 0, "committed"),
        ("t_seed", 0, "committed"),
        ("t_metrics", 0, "committed"),
        ("t_seed", 1, "committed"),
        ("t_metrics", 1, "committed"),
    ]
    assert read_calls(calls) == {"t_seed@0": 1, "t_metrics@0": 1, "t_seed@1": 1, "t_metrics@1": 1}

    # committed manifests, with lineage pinned to what this flow produced
    store = RunStore(run)
    by_key = {(r["stage"], r["step"]): r for r in records}
    m1 = store.latest("t_metrics", 1).manifest
    assert m1.manifest_id == by_key[("t_metrics", 1)]["manifest_id"]
    assert {i.key: i.manifest_id for i in m1.inputs} == {
        "seed": by_key[("t_seed", 1)]["manifest_id"],
        "previous": by_key[("t_metrics", 0)]["manifest_id"],
    }
    assert m1.validation and all(v["success"] for v in m1.validation)

    parent_id = state.state_details.flow_run_id
    with _client() as client:
        children = _child_flow_runs(client, parent_id)
        assert sorted(fr.name for fr in children) == [
            f"audit-run/{n}" for n in ("instructions@0", "t_metrics@0", "t_metrics@1", "t_seed@0", "t_seed@1")
        ]
        for fr in children:  # run:<id>, step:<n>, stage:<name> tags on every stage flow run
            stage, step = fr.name.split("/", 1)[1].split("@")
            assert {"run:audit-run", f"step:{step}", f"stage:{stage}"} <= set(fr.tags), fr.tags
        assert all(fr.state.is_completed() for fr in children)
        flows = {client.read_flow(fr.flow_id).name for fr in children}
        assert flows == {"stage-instructions", "stage-t_seed", "stage-t_metrics"}
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[fr.id for fr in children]))
        )
        states = {t.name: t.state.type.value for t in tasks}
        for stage, step in by_key:
            assert states[f"{stage}@{step}"] == "COMPLETED"
            assert states[f"audit {stage}@{step}"] == "COMPLETED"
        # the GPU stage's flow run is tagged `gpu`; task runs carry no tags (a tagged task run takes a Prefect
        # tag-concurrency lease at its start: one more API write, and one client + thread per distinct tag set)
        by_name = {fr.name: fr for fr in children}
        assert "gpu" in by_name["audit-run/t_metrics@1"].tags and "gpu" not in by_name["audit-run/t_seed@1"].tags
        stage_tasks = [t for t in tasks if t.name in states and "@" in t.name]  # run-stage and audit task runs
        assert len(stage_tasks) == 2 * len(by_key) and all(not t.tags for t in stage_tasks), stage_tasks
        assert client.read_global_concurrency_limit_by_name("test-gpu").limit == 1

        keys = stage_keys("audit-run", "t_metrics")
        # update metrics declare no better direction (losses, counters): statistics, but no best/worst samples
        wanted = [keys[k] for k in ("manifest", "summary", "stats", "groups", "progress")]
        wanted += [stage_keys("audit-run", "instructions")[k] for k in ("manifest", "summary", "stats")]
        wanted += [stage_keys("audit-run", "t_seed")[k] for k in ("manifest", "summary")]
        wanted.append(curve_key("audit-run"))
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=wanted)))
        found = {a.key for a in arts}
        assert set(wanted) <= found, set(wanted) - found
        assert not client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[keys["samples"]])))
        latest = {a.key: a for a in sorted(arts, key=lambda a: a.created)}
        assert latest[keys["progress"]].data == 100.0
        # no file server for this store: the manifest's location is stated, never linked as file://
        assert "file://" not in latest[keys["manifest"]].data
        assert "step=000001/t_metrics/v0000/_manifest.json`" in latest[keys["manifest"]].data
        curve = latest[curve_key("audit-run")].data
        assert "| 0 |" in curve and "| 1 |" in curve and "t_metrics.value[executor/reward]" in curve
        assert "`metrics.parquet` (update_metrics): OK" in latest[keys["summary"]].data

    # rerun: everything is committed, so the flow starts no stage flow at all
    again = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=2, return_state=True)
    assert [r["status"] for r in again.result()] == ["skipped"] * 5
    with _client() as client:
        assert _child_flow_runs(client, again.state_details.flow_run_id) == []
    assert read_calls(calls) == {"t_seed@0": 1, "t_metrics@0": 1, "t_seed@1": 1, "t_metrics@1": 1}
