"""Provenance of the policy stages: which base (bootstrap checkpoint or configured path) a stage runs on.

The policy stages (plan, rollout, update_planner, update_executor, evaluate, generate) take the run's bootstrap
checkpoint as an optional input (BOOTSTRAP_INPUT): when it is committed, `with_bootstrap` points
`planner.base_model` and `executor.checkpoint` at it and `base_of` names it in their manifests, so every artifact
of samples records the base it came from and the update stages assert (`check_same_base`) that they train on the
base that sampled.
"""

from __future__ import annotations

from plotline.config import PlotlineConfig
from plotline.policy.reference import BOOTSTRAP_EXECUTOR_FILE, BOOTSTRAP_PLANNER_DIR, on_base
from stages.base import InputSpec, StageContext

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
