"""update_planner end to end: plans -> fake planner advantages -> GSPO -> a new adapter the next plan uses."""

from __future__ import annotations

import pytest
from test_plan_stage import planner_config

from plotline.tiny.planner import torch_threads
from stages.base import InputSpec, StageSpec, register, run_stage
from stages.update_planner import PlannerVersionMismatch


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _fake_planner_advantages(ctx):
    """Reward: the plan mentions "slowly"; advantage +1 for plan 0 and −0.5 for plan 1 (a signal even when both plans are identical)."""
    rows = ctx.inputs["plans"].read_table("plans.parquet").to_pylist()
    reward = {r["plan_id"]: float(any("slowly" in s for s in r["steps"])) for r in rows}
    out = []
    for r in rows:
        out.append(
            {
                "sample_id": r["plan_id"],
                "role": "planner",
                "group_id": r["instruction_id"],
                "instruction_id": r["instruction_id"],
                "plan_id": r["plan_id"],
                "reward": reward[r["plan_id"]],
                "advantage": 1.0 if r["plan_index"] == 0 else -0.5,
                "keep": True,
                "status": "scored",
                "zero_variance": False,
                "self_paced_weights": [],
            }
        )
    ctx.output.write_table("advantages.parquet", "advantages", out)


register(
    StageSpec(
        name="test_planner_advantages",
        summary="fake planner advantages",
        outputs=("advantages",),
        inputs=(InputSpec("plans", stage="plan"),),
        config_sections=("seed",),
        run=_fake_planner_advantages,
    )
)


def test_update_writes_adapter_that_the_next_plan_step_uses(tmp_path):
    cfg = planner_config(tmp_path)
    run = str(tmp_path / "runs" / "u1")
    run_stage("instructions", cfg, run, 0, show_progress=False)
    plans = run_stage("plan", cfg, run, 0, show_progress=False)
    adv = run_stage("test_planner_advantages", cfg, run, 0, show_progress=False)
    events = []
    upd = run_stage(
        "update_planner",
        cfg,
        run,
        0,
        show_progress=False,
        progress_hook=events.append,
        pinned_inputs={"plans": plans.artifact.uri, "advantages": adv.artifact.uri},
    )
    # progress: one report per optimiser step of the whole update, with that step's loss (as metrics.parquet)
    losses = [m["value"] for m in upd.artifact.read_table("metrics.parquet").to_pylist() if m["metric"] == "loss"]
    assert [(e.label, e.done, e.total) for e in events] == [
        ("update_planner@0 gspo", i, len(losses)) for i in range(len(losses) + 1)
    ]
    assert [e.loss for e in events[1:]] == losses and events[0].loss is None
    files = upd.artifact.files
    assert "adapter/adapter_model.safetensors" in files and "adapter/adapter_config.json" in files
    summary = upd.manifest.summary
    assert summary["start_adapter_version"] == plans.manifest.summary["adapter_version"]
    assert summary["adapter_version"] != summary["start_adapter_version"] and summary["trained_plans"] == 4, (
        summary,
        upd.artifact.read_table("metrics.parquet").to_pylist(),
    )
    metrics = upd.artifact.read_table("metrics.parquet").to_pylist()
    ratios = [m["value"] for m in metrics if m["metric"] == "ratio"]
    assert len(ratios) == 1 and abs(ratios[0] - 1.0) < 1e-5  # on-policy: sampling weights = starting weights
    kl = [m["value"] for m in metrics if m["metric"] == "kl"]
    assert kl == [0.0]  # reference = starting planner = the adapter that sampled

    nxt = run_stage("plan", cfg, run, 1, show_progress=False)
    rows = nxt.artifact.read_table("plans.parquet").to_pylist()
    assert {r["adapter_version"] for r in rows} == {summary["adapter_version"]}
    # updating from the new adapter with plans sampled by the old one is refused, naming both versions
    with pytest.raises(PlannerVersionMismatch, match=summary["adapter_version"]):
        run_stage(
            "update_planner",
            cfg,
            run,
            1,
            show_progress=False,
            pinned_inputs={"plans": plans.artifact.uri, "advantages": adv.artifact.uri},
        )
