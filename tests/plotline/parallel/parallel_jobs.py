"""Job kinds for the worker-protocol tests: importable by worker processes through PYTHONPATH (this folder)."""

from __future__ import annotations

import os

import torch

from plotline.executor.prompts import PlanTooShort
from plotline.parallel.jobs import WorkerContext, register_job
from plotline.video import VideoConfig


@register_job("test_echo")
def echo(ctx: WorkerContext) -> dict:
    """What the worker saw: its shard, device, threads, the section rebuilt and dumped again, the inputs, and a
    sum over the launch's collective of (rank + 1)."""
    video = ctx.section("video", VideoConfig)
    total = ctx.collective.sum_floats([ctx.collective.rank + 1.0])[0]
    return {
        "shard": ctx.spec.shard,
        "num_shards": ctx.spec.num_shards,
        "device": ctx.device,
        "launcher": ctx.spec.launcher,
        "threads": torch.get_num_threads(),
        "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "video": video.model_dump(mode="json"),
        "inputs": ctx.spec.inputs,
        "world_size": ctx.collective.world_size,
        "rank_sum": total,
    }


@register_job("test_fail_on_shard_1")
def fail_on_shard_1(ctx: WorkerContext) -> None:
    """Shard 1 raises one of plotline's own exceptions; the others succeed."""
    if ctx.spec.shard == 1:
        raise PlanTooShort(f"plan {ctx.input('plan')} has 1 step prompts")
