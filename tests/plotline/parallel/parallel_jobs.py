"""Job kinds for the worker-protocol tests: importable by worker processes through PYTHONPATH (this folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

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


@register_job("test_progress")
def report_progress(ctx: WorkerContext) -> int:
    """Reports a known sequence: `count` steps 0..n with loss = done (and done == total at the end), then a fast
    loop of `fast` reports the throttle must thin out; a half-written progress file of a foreign rank sits beside
    them all along."""
    folder = Path(ctx.spec.workdir) / "progress"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rank9-0.json").write_text('{"rank": 9, "descr')
    n = int(ctx.input("n")) + ctx.spec.shard
    count = ctx.reporter("count")
    for done in range(n + 1):
        count(done, n, float(done))
        time.sleep(0.02)
    fast, total = ctx.reporter("fast"), int(ctx.input("fast"))
    for done in range(total + 1):
        fast(done, total)
    return ctx.spec.shard
