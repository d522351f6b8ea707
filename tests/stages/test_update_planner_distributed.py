"""update_planner under `accelerate launch` with 2 CPU ranks (gloo) equals the single-process GSPO update, and
every rank's progress reaches the stage's progress hook."""

from __future__ import annotations

import time

import pytest
import torch
from test_plan_stage import planner_config

from plotline.tiny.planner import torch_threads
from stages.base import InputSpec, StageSpec, register, run_stage

pytestmark = pytest.mark.ranks  # starts torch.distributed CPU ranks: one such test at a time (conftest)

COMMON = (
    "rl.planner.inner_epochs=2",
    "planner.logprob_batch_size=2",
    "planner.device=cpu",
    "rl.planner.learning_rate=1e-2",
)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _advantages(ctx):
    """Advantage +1 for plan 0, −0.5 for plan 1 of every instruction."""
    out = []
    for r in ctx.inputs["plans"].read_table("plans.parquet").to_pylist():
        out.append(
            {
                "sample_id": r["plan_id"],
                "role": "planner",
                "group_id": r["instruction_id"],
                "instruction_id": r["instruction_id"],
                "plan_id": r["plan_id"],
                "reward": 0.0,
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
        name="test_dist_planner_advantages",
        summary="fake planner advantages",
        outputs=("advantages",),
        inputs=(InputSpec("plans", stage="plan"),),
        config_sections=("seed",),
        run=_advantages,
    )
)


def test_two_cpu_ranks_equal_single_process_update(tmp_path):
    single_cfg = planner_config(tmp_path, *COMMON)
    dist_cfg = planner_config(tmp_path, *COMMON, "rl.planner.num_processes=2")
    run = str(tmp_path / "runs" / "pd")
    run_stage("instructions", single_cfg, run, 0, show_progress=False)
    plans = run_stage("plan", single_cfg, run, 0, show_progress=False)
    adv = run_stage("test_dist_planner_advantages", single_cfg, run, 0, show_progress=False)
    pins = {"plans": plans.artifact.uri, "advantages": adv.artifact.uri}
    t0 = time.perf_counter()
    one = run_stage("update_planner", single_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    t1 = time.perf_counter()
    # the process count is a placement setting: same cache key, so only --force computes it again
    assert run_stage("update_planner", dist_cfg, run, 0, show_progress=False, pinned_inputs=pins).status == "skipped"
    t1 = time.perf_counter()
    events = []
    two = run_stage(
        "update_planner",
        dist_cfg,
        run,
        0,
        show_progress=False,
        pinned_inputs=pins,
        force=True,
        progress_hook=events.append,
    )
    t2 = time.perf_counter()
    print(f"single process {t1 - t0:.1f} s, 2 gloo ranks {t2 - t1:.1f} s")
    s1, s2 = one.manifest.summary, two.manifest.summary
    assert (s1["num_processes"], s2["num_processes"]) == (1, 2)
    assert s1["optimizer_steps"] == s2["optimizer_steps"] == 2 and s1["trained_plans"] == s2["trained_plans"] == 4
    assert s1["start_adapter_version"] == s2["start_adapter_version"]
    a = one.artifact.read_tensors("adapter/adapter_model.safetensors")
    b = two.artifact.read_tensors("adapter/adapter_model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=5e-6)
    m1 = one.artifact.read_table("metrics.parquet").to_pylist()
    m2 = two.artifact.read_table("metrics.parquet").to_pylist()
    assert [(m["iteration"], m["metric"]) for m in m1] == [(m["iteration"], m["metric"]) for m in m2]
    for x, y in zip(m1, m2):
        assert y["value"] == pytest.approx(x["value"], rel=1e-4, abs=1e-5), (x, y)
    print(f"max |Δ adapter| single vs 2 ranks: {worst:.3g}")
    # every rank's optimiser steps reached the stage's progress hook, each ending at done == total
    by_label: dict[str, list] = {}
    for e in events:
        by_label.setdefault(e.label, []).append(e)
    assert sorted(by_label) == ["update_planner@0 rank 0 gspo", "update_planner@0 rank 1 gspo"]
    for label, seen in by_label.items():
        assert [e.total for e in seen] == [2] * len(seen), label
        assert seen[-1].done == 2 and seen[-1].loss is not None, label
        assert [e.done for e in seen] == sorted({e.done for e in seen}), label  # forwarded once each, in order
