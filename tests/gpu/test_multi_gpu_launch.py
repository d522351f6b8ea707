"""Multi-GPU launches (≥ 2 CUDA devices): update_executor / update_planner under `accelerate launch` with one
rank per GPU (NCCL) equal the single-GPU update, and a rollout sharded over 2 GPUs equals an unsharded one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))  # the stage tests' fixtures

pytestmark = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs at least 2 CUDA devices")

from dist_fixtures import plans_and_rollouts, tiny_config  # noqa: E402

from stages.base import run_stage  # noqa: E402

EXEC = (
    "rl.executor.lora_rank=4",
    "rl.executor.lora_alpha=4",
    "rl.executor.learning_rate=1e-2",
    "rl.executor.clip=0.2",
    "rl.executor.grad_accum_steps=4",
    "rl.executor.inner_epochs=2",
    "executor.num_continuations=2",
    "executor.decode_videos=false",
    "executor.device=cuda",
)


def _close(a: dict, b: dict, rtol: float, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=rtol, atol=atol)


def test_update_executor_on_two_gpus_equals_one_gpu(tmp_path):
    one_cfg = tiny_config(tmp_path, *EXEC)
    two_cfg = tiny_config(tmp_path, *EXEC, "rl.executor.num_processes=2")
    run = str(tmp_path / "runs" / "g1")
    _, roll = plans_and_rollouts(one_cfg, run)
    adv = run_stage(
        "test_dist_exec_advantages", one_cfg, run, 0, show_progress=False, pinned_inputs={"rollouts": roll.artifact.uri}
    )
    pins = {"rollouts": roll.artifact.uri, "advantages": adv.artifact.uri}
    one = run_stage("update_executor", one_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    two = run_stage("update_executor", two_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    assert two.manifest.summary["num_processes"] == 2
    assert one.manifest.summary["optimizer_steps"] == two.manifest.summary["optimizer_steps"] == 2
    name = "adapter/adapter_model.safetensors"
    _close(one.artifact.read_tensors(name), two.artifact.read_tensors(name), rtol=1e-3, atol=1e-5)


def test_rollout_sharded_over_two_gpus_equals_unsharded(tmp_path):
    base = ("executor.device=cuda", "executor.num_continuations=2", "executor.decode_videos=false")
    one_cfg = tiny_config(tmp_path, *base)
    two_cfg = tiny_config(tmp_path, *base, "executor.num_shards=2", "executor.shard_devices=[0,1]")
    run = str(tmp_path / "runs" / "g2")
    plans = run_stage("test_dist_plans", one_cfg, run, 0, show_progress=False)
    one = run_stage("rollout", one_cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    two = run_stage("rollout", two_cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    ra = one.artifact.read_table("rollouts.parquet").to_pylist()
    rb = two.artifact.read_table("rollouts.parquet").to_pylist()
    assert [r["rollout_id"] for r in ra] == [r["rollout_id"] for r in rb]
    for x, y in zip(ra, rb):
        assert y.pop("logprobs_old") == pytest.approx(x.pop("logprobs_old"), rel=1e-4, abs=1e-5)
        assert x == y
    for path in sorted({r["group_path"] for r in ra}):
        _close(one.artifact.read_tensors(path), two.artifact.read_tensors(path), rtol=1e-4, atol=1e-5)


def test_update_planner_on_two_gpus_equals_one_gpu(tmp_path):
    from test_plan_stage import planner_config
    from test_update_planner_distributed import _advantages  # noqa: F401 - registers the fake advantages stage

    common = (
        "rl.planner.inner_epochs=2",
        "planner.logprob_batch_size=2",
        "planner.device=cuda",
        "rl.planner.learning_rate=1e-2",
    )
    one_cfg = planner_config(tmp_path, *common)
    two_cfg = planner_config(tmp_path, *common, "rl.planner.num_processes=2")
    run = str(tmp_path / "runs" / "g3")
    run_stage("instructions", one_cfg, run, 0, show_progress=False)
    plans = run_stage("plan", one_cfg, run, 0, show_progress=False)
    adv = run_stage("test_dist_planner_advantages", one_cfg, run, 0, show_progress=False)
    pins = {"plans": plans.artifact.uri, "advantages": adv.artifact.uri}
    one = run_stage("update_planner", one_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    two = run_stage("update_planner", two_cfg, run, 0, show_progress=False, pinned_inputs=pins)
    assert two.manifest.summary["num_processes"] == 2
    name = "adapter/adapter_model.safetensors"
    _close(one.artifact.read_tensors(name), two.artifact.read_tensors(name), rtol=1e-3, atol=1e-5)
