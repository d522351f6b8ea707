"""bootstrap stage: warm-start the shapes world's tiny planner and executor once per run (DESIGN §6).

Writes, in the checkpoints area at step 0: `planner/` (a transformers Qwen3 folder: SFT'd weights, the world
tokenizer, chat template) and `executor/dit.safetensors` (the `shapes` DiT in the `wan` checkpoint format), plus
the loss curves (metrics.parquet). Cached like every stage: the same world/video/executor settings reuse it.

The policy stages take it as an optional input; `stages.provenance` says how they point at it and record it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from stages.base import StageContext, StageSpec, register
from stages.provenance import EXECUTOR_FILE, PLANNER_DIR

# --- the stage ------------------------------------------------------------------------------------------------
WORLD_FIELDS = (
    "seed",
    "num_train_instructions",
    "num_eval_instructions",
    "min_steps",
    "max_steps",
    "heldout_fraction",
    "shapes",
    "colours",
    "phrasings",
    "frame_height",
    "frame_width",
    "move_fraction",
    "min_size_fraction",
    "max_size_fraction",
    "scale_factor",
    "hold_fraction",
    "bootstrap",
)
"""The world settings the warm start depends on (the judges' thresholds are not). The instruction counts are:
the SFT instructions leave out the prompts of the run's eval split."""


def _warm_start_planner(ctx: StageContext, tmp: str) -> list[dict]:
    from plotline.world.bootstrap import bootstrap_planner

    cfg = ctx.config
    info = bootstrap_planner(
        Path(tmp) / PLANNER_DIR,
        cfg.world,
        cfg.video,
        cfg.planner,
        ctx.seed("planner"),
        progress=ctx.reporter("planner sft"),
    )
    ctx.output.write_dir(PLANNER_DIR, str(Path(tmp) / PLANNER_DIR))
    ctx.output.summary.update(info)
    return [
        {
            "role": "planner",
            "iteration": ctx.config.world.bootstrap.planner.steps,
            "metric": "sft_loss",
            "value": float(info["planner_sft_loss"]),
        }
    ]


def _warm_start_executor(ctx: StageContext, tmp: str) -> list[dict]:
    import torch

    from plotline.world.bootstrap import bootstrap_executor

    with torch.random.fork_rng():
        state, losses = bootstrap_executor(
            ctx.config.world,
            ctx.config.video,
            ctx.config.executor,
            ctx.config.planner,
            ctx.seed("executor"),
            progress=ctx.reporter("executor flow matching"),
            pool_progress=ctx.reporter("executor training videos"),
        )
    ctx.output.write_tensors(EXECUTOR_FILE, state, metadata={"backbone": ctx.config.executor.backbone, "format": "wan"})
    tail = losses[-min(50, len(losses)) :]
    ctx.output.summary.update(
        {
            "executor_fm_loss": sum(tail) / len(tail),
            "executor_steps": len(losses),
            "executor_parameters": sum(t.numel() for t in state.values()),
        }
    )
    return [
        {"role": "executor", "iteration": i, "metric": "flow_matching_loss", "value": v} for i, v in enumerate(losses)
    ]


WARM_STARTS = (("planner", _warm_start_planner), ("executor", _warm_start_executor))
"""(name, fn(ctx, tmp dir) -> metric rows): each writes its checkpoint and summary entries."""


def run(ctx: StageContext) -> None:
    """Train both warm starts and write them with their loss curves."""
    from plotline.world.bootstrap import check_config

    check_config(ctx.config.executor, ctx.config.world, ctx.config.video)
    metrics: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _name, warm_start in WARM_STARTS:
            metrics += warm_start(ctx, tmp)
    ctx.output.write_table("metrics.parquet", "update_metrics", metrics)


register(
    StageSpec(
        name="bootstrap",
        summary="Warm-start the shapes world's tiny planner (SFT on noisy template plans) and executor (flow matching)",
        inputs=(),
        outputs=("update_metrics",),
        config_sections=(
            *(f"world.{f}" for f in WORLD_FIELDS),
            "video",
            "planner.enable_thinking",
            "planner.smooth_joiner",
            "executor.backbone",
            "executor.denoising_steps",
            "executor.shift",
            "executor.context_timestep",
            "seed",
        ),
        run=run,
        area="checkpoints",
    )
)
