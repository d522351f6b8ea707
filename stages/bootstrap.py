"""bootstrap stage: warm-start the shapes world's tiny planner and executor once per run (DESIGN §6).

Writes, in the checkpoints area at step 0: `planner/` (a transformers Qwen3 folder: SFT'd weights, the world
tokenizer, chat template) and `executor/dit.safetensors` (the `shapes` DiT in the `wan` checkpoint format), plus
the loss curves (metrics.parquet). Cached like every stage: the same world/video/executor settings reuse it.

The policy stages (plan, rollout, update_planner, update_executor) take it as an optional input (BOOTSTRAP_INPUT):
when it is committed, `with_bootstrap` points `planner.base_model` and `executor.checkpoint` at it, and
`base_of` names it in their manifests, so every artifact of samples records the base it came from and the
update stages assert (`check_same_base`) that they train on the base that sampled.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from plotline.config import PlotlineConfig
from plotline.policy.reference import BOOTSTRAP_EXECUTOR_FILE, BOOTSTRAP_PLANNER_DIR, on_base
from plotline.world import backbone as _world_backbone  # noqa: F401 - registers the `shapes` executor backbone
from stages.base import InputSpec, StageContext, StageSpec, register

PLANNER_DIR = BOOTSTRAP_PLANNER_DIR
EXECUTOR_FILE = BOOTSTRAP_EXECUTOR_FILE
BOOTSTRAP_INPUT = InputSpec("bootstrap", stage="bootstrap", fixed_step=0, area="checkpoints", optional=True)
"""The input every policy stage declares: the run's bootstrap checkpoint, when one is committed."""


class BaseMismatch(RuntimeError):
    """An update stage would start from another base model than the one that produced its samples."""


def with_bootstrap(ctx: StageContext) -> PlotlineConfig:
    """The run config with `planner.base_model` and `executor.checkpoint` pointing at the bootstrap checkpoint
    when the run has one (else the config unchanged). Only the local paths change; the stage's cache key is the
    bootstrap manifest id, which is an input."""
    art = ctx.inputs.get("bootstrap")
    if art is None:
        return ctx.config
    planner, executor = on_base(ctx.config.planner, ctx.config.executor, art)
    return ctx.config.model_copy(update={"planner": planner, "executor": executor})


_CONFIGURED_BASE = {"planner": lambda cfg: cfg.planner.base_model, "executor": lambda cfg: cfg.executor.checkpoint}


def base_of(ctx: StageContext, role: str) -> str:
    """Which base `role` (planner/executor) runs on: `bootstrap:<manifest id>` or `config:<path>`."""
    art = ctx.inputs.get("bootstrap")
    if art is not None:
        return f"bootstrap:{art.manifest.manifest_id}"
    return f"config:{_CONFIGURED_BASE[role](ctx.config) or 'random-init'}"


def check_same_base(ctx: StageContext, samples_key: str, role: str) -> str:
    """Raise BaseMismatch unless the samples artifact `samples_key` was produced on this stage's base."""
    mine = base_of(ctx, role)
    theirs = ctx.inputs[samples_key].manifest.summary.get(f"{role}_base")
    if theirs is not None and theirs != mine:
        raise BaseMismatch(f"{samples_key} were produced on {role} base {theirs}, but this update runs on {mine}")
    return mine


# --- the stage ------------------------------------------------------------------------------------------------
WORLD_FIELDS = ("seed", "num_train_instructions", "num_eval_instructions", "min_steps", "max_steps",
                "heldout_fraction", "shapes", "colours", "phrasings",
                "frame_height", "frame_width", "move_fraction", "min_size_fraction", "max_size_fraction",
                "scale_factor", "hold_fraction", "bootstrap")
"""The world settings the warm start depends on (the judges' thresholds are not). The instruction counts are:
the SFT instructions leave out the prompts of the run's eval split."""


def _warm_start_planner(ctx: StageContext, tmp: str) -> list[dict]:
    from plotline.world.bootstrap import bootstrap_planner

    info = bootstrap_planner(Path(tmp) / PLANNER_DIR, ctx.config, ctx.seed("planner"))
    ctx.output.write_dir(PLANNER_DIR, str(Path(tmp) / PLANNER_DIR))
    ctx.output.summary.update(info)
    return [{"role": "planner", "iteration": ctx.config.world.bootstrap.planner.steps, "metric": "sft_loss",
             "value": float(info["planner_sft_loss"])}]


def _warm_start_executor(ctx: StageContext, tmp: str) -> list[dict]:
    import torch

    from plotline.world.bootstrap import bootstrap_executor

    with torch.random.fork_rng():
        state, losses = bootstrap_executor(ctx.config, ctx.seed("executor"))
    ctx.output.write_tensors(EXECUTOR_FILE, state, metadata={"backbone": ctx.config.executor.backbone,
                                                             "format": "wan"})
    tail = losses[-min(50, len(losses)):]
    ctx.output.summary.update({"executor_fm_loss": sum(tail) / len(tail), "executor_steps": len(losses),
                               "executor_parameters": sum(t.numel() for t in state.values())})
    return [{"role": "executor", "iteration": i, "metric": "flow_matching_loss", "value": v}
            for i, v in enumerate(losses)]


WARM_STARTS = (("planner", _warm_start_planner), ("executor", _warm_start_executor))
"""(name, fn(ctx, tmp dir) -> metric rows): each writes its checkpoint and summary entries."""


def run(ctx: StageContext) -> None:
    """Train both warm starts and write them with their loss curves."""
    from plotline.world.bootstrap import check_config

    check_config(ctx.config)
    metrics: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _name, warm_start in ctx.progress(WARM_STARTS, description="bootstrap"):
            metrics += warm_start(ctx, tmp)
    ctx.output.write_table("metrics.parquet", "update_metrics", metrics)


register(StageSpec(
    name="bootstrap",
    summary="Warm-start the shapes world's tiny planner (SFT on noisy template plans) and executor (flow matching)",
    inputs=(),
    outputs=("update_metrics",),
    config_sections=(*(f"world.{f}" for f in WORLD_FIELDS), "video", "planner.enable_thinking",
                     "planner.smooth_joiner", "executor.backbone", "executor.denoising_steps", "executor.shift",
                     "executor.context_timestep", "seed"),
    run=run,
    area="checkpoints",
))
