"""The train flow under a real Prefect API: stage tasks run, manifests commit, reruns resume without redoing work."""
from __future__ import annotations

import pytest

from plotline.config import load_config
from plotline.store import RunStore
from stages.base import InputSpec, StageSpec, register

CALLS: list[int] = []


def _metric(ctx):
    CALLS.append(ctx.step)
    prev = ctx.inputs["previous"]
    value = 0.0 if prev is None else prev.read_table("m.parquet").column("value")[0].as_py() + 1.0
    ctx.output.write_table("m.parquet", "update_metrics",
                           [{"role": "planner", "iteration": 0, "metric": "counter", "value": value}])
    ctx.output.summary["counter"] = value


register(StageSpec(name="test_counter", summary="counts steps", outputs=("update_metrics",),
                   inputs=(InputSpec("instructions", stage="instructions", fixed_step=0),
                           InputSpec("previous", stage="test_counter", step_offset=-1)),
                   config_sections=("seed",), run=_metric))


@pytest.fixture
def flow_config(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text('prompt\n"a cube spins, then stops"\n')
    return load_config(overrides=["data.source=file", f"data.path={prompts}", "orchestration.step_stages=[test_counter]",
                                  "orchestration.stage_retries=0"])


def test_train_flow_runs_steps_and_resumes(prefect_harness, flow_config, tmp_path):
    from flows.train import train_flow

    run = str(tmp_path / "runs" / "flow")
    CALLS.clear()
    records = train_flow(config=flow_config.model_dump(mode="json"), run_uri=run, steps=2)
    assert [(r["stage"], r["step"], r["status"]) for r in records] == [
        ("instructions", 0, "committed"), ("test_counter", 0, "committed"), ("test_counter", 1, "committed")]
    assert CALLS == [0, 1]
    store = RunStore(run)
    assert store.latest("test_counter", 1).manifest.summary["counter"] == 1.0
    # resume with one more step: committed stages are skipped, only step 2 runs
    records = train_flow(config=flow_config.model_dump(mode="json"), run_uri=run, steps=3)
    assert [r["status"] for r in records] == ["skipped", "skipped", "skipped", "committed"]
    assert CALLS == [0, 1, 2] and store.latest("test_counter", 2).manifest.summary["counter"] == 2.0


def test_train_flow_names_missing_stages(prefect_harness, flow_config, tmp_path):
    from flows.train import train_flow

    cfg = flow_config.model_copy(deep=True)
    cfg.orchestration.step_stages = ["no_such_stage"]
    with pytest.raises(ValueError, match=r"\['no_such_stage'\] are not available"):
        train_flow(config=cfg.model_dump(mode="json"), run_uri=str(tmp_path / "r"), steps=1)
