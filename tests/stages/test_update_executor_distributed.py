"""update_executor under `accelerate launch` with 2 CPU ranks (gloo) equals the single-process update."""

from __future__ import annotations

import time

import pytest
import torch
from dist_fixtures import plans_and_rollouts, tiny_config

from plotline.rl.flow_grpo_trainer import NonFiniteError
from plotline.store import RunStore
from stages.base import InputSpec, StageSpec, register, run_stage

pytestmark = pytest.mark.ranks  # starts torch.distributed CPU ranks: one such test at a time (conftest)

torch.set_num_threads(1)
COMMON = (
    "rl.executor.lora_rank=4",
    "rl.executor.lora_alpha=4",
    "rl.executor.learning_rate=1e-2",
    "rl.executor.clip=0.2",
    "rl.executor.grad_accum_steps=4",
    "rl.executor.inner_epochs=2",
    "executor.num_continuations=2",
    "executor.decode_videos=false",
    "executor.device=cpu",
)


def _nan_rollouts(ctx):
    """A copy of the rollouts with a NaN in the latents of plan i1/p1 (only the rank that trains it fails)."""
    art = ctx.inputs["rollouts"]
    rows = art.read_table("rollouts.parquet").to_pylist()
    for path in sorted({r["group_path"] for r in rows}):
        g = art.read_tensors(path)
        if any(r["plan_id"] == "i1/p1" and r["group_path"] == path for r in rows):
            g["states"][0, 0, 0, 0, 0, 0] = float("nan")
        ctx.output.write_tensors(path, g)
    ctx.output.write_table("rollouts.parquet", "rollouts", rows, params={"N": 2})


register(
    StageSpec(
        name="test_nan_rollouts",
        summary="rollouts with a NaN",
        outputs=("rollouts",),
        inputs=(InputSpec("rollouts", stage="rollout"),),
        config_sections=("seed",),
        run=_nan_rollouts,
    )
)


def _tensors(outcome, name):
    return outcome.artifact.read_tensors(name)


def test_two_cpu_ranks_equal_single_process_gradient_accumulation(tmp_path):
    single_cfg = tiny_config(tmp_path, *COMMON)
    dist_cfg = tiny_config(tmp_path, *COMMON, "rl.executor.num_processes=2")
    run = str(tmp_path / "runs" / "d1")
    _, roll = plans_and_rollouts(single_cfg, run)
    adv = run_stage(
        "test_dist_exec_advantages",
        single_cfg,
        run,
        0,
        show_progress=False,
        pinned_inputs={"rollouts": roll.artifact.uri},
    )
    pins = {"rollouts": roll.artifact.uri, "advantages": adv.artifact.uri}
    t0 = time.perf_counter()
    one = run_stage("update_executor", single_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    t1 = time.perf_counter()
    # the process count is a placement setting: same cache key, so only --force computes it again
    assert run_stage("update_executor", dist_cfg, run, 0, show_progress=False, pinned_inputs=pins).status == "skipped"
    t1 = time.perf_counter()
    two = run_stage("update_executor", dist_cfg, run, 0, show_progress=False, pinned_inputs=pins, force=True)
    t2 = time.perf_counter()
    print(f"single process {t1 - t0:.1f} s, 2 gloo ranks {t2 - t1:.1f} s")
    assert one.manifest.summary["num_processes"] == 1 and two.manifest.summary["num_processes"] == 2
    # 4 plans × 2 epochs in windows of 4 groups (2 per rank, so the summation order differs) → 2 steps
    assert one.manifest.summary["optimizer_steps"] == two.manifest.summary["optimizer_steps"] == 2
    worst = 0.0
    for name in ("adapter/adapter_model.safetensors", "adapter_ema/adapter_model.safetensors"):
        a, b = _tensors(one, name), _tensors(two, name)
        assert a.keys() == b.keys()
        for k in a:
            worst = max(worst, float((a[k] - b[k]).abs().max()))
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=5e-6)  # measured: 6.6e-7
    start = {k: v for k, v in _tensors(one, "adapter/adapter_model.safetensors").items() if "lora_B" in k}
    assert any(float(v.abs().max()) > 1e-4 for v in start.values())  # the update did move the adapter
    m1 = one.artifact.read_table("metrics.parquet").to_pylist()
    m2 = two.artifact.read_table("metrics.parquet").to_pylist()
    assert [(m["iteration"], m["metric"]) for m in m1] == [(m["iteration"], m["metric"]) for m in m2]
    for x, y in zip(m1, m2):
        assert y["value"] == pytest.approx(x["value"], rel=1e-4, abs=1e-5), (x, y)
    print(f"max |Δ adapter| single vs 2 ranks: {worst:.3g}")


def test_a_failing_rank_fails_the_stage_with_its_error_and_commits_nothing(tmp_path):
    cfg = tiny_config(tmp_path, *COMMON, "rl.executor.num_processes=2", "rl.executor.inner_epochs=1")
    run = str(tmp_path / "runs" / "d2")
    _, roll = plans_and_rollouts(cfg, run)
    bad = run_stage(
        "test_nan_rollouts", cfg, run, 0, show_progress=False, pinned_inputs={"rollouts": roll.artifact.uri}
    )
    adv = run_stage(
        "test_dist_exec_advantages", cfg, run, 0, show_progress=False, pinned_inputs={"rollouts": bad.artifact.uri}
    )
    with pytest.raises(NonFiniteError, match="sample i1/p1/c0: non-finite latents") as info:
        run_stage(
            "update_executor",
            cfg,
            run,
            0,
            show_progress=False,
            pinned_inputs={"rollouts": bad.artifact.uri, "advantages": adv.artifact.uri},
        )
    assert any("update_executor rank" in n for n in getattr(info.value, "__notes__", []))
    assert "Traceback" in str(info.value.__cause__)
    assert RunStore(run, cfg.storage).artifacts("update_executor", 0) == []
