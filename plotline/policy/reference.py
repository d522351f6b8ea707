"""Which policy a stage runs: the base models (planner base, executor DiT checkpoint) and the planner and
executor adapters, read from the stage's resolved (pinned) inputs only — never by asking the store for `latest`.

A run's bootstrap checkpoint (when committed) replaces the configured bases: `planner/` is the planner base and
`executor/dit.safetensors` the executor checkpoint. Update outputs hold their adapter under `adapter/` (the
executor's EMA weights, when kept, under `adapter_ema/`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from plotline.executor.config import ExecutorConfig
from plotline.planner.config import PlannerConfig

BOOTSTRAP_PLANNER_DIR = "planner"
"""Folder of the bootstrap checkpoint holding the planner base (a transformers Qwen3 folder)."""
BOOTSTRAP_EXECUTOR_FILE = "executor/dit.safetensors"
"""File of the bootstrap checkpoint holding the executor's DiT (the `wan` checkpoint format)."""


@dataclass(frozen=True)
class PolicyRef:
    """A policy: the planner and executor sections with their base paths set, and the local adapter folders
    (None: no adapter)."""

    planner: PlannerConfig
    executor: ExecutorConfig
    planner_adapter: str | None = None
    executor_adapter: str | None = None


def on_base(planner: PlannerConfig, executor: ExecutorConfig, bootstrap) -> tuple[PlannerConfig, ExecutorConfig]:
    """The sections with `planner.base_model` and `executor.checkpoint` pointing into the committed bootstrap
    artifact `bootstrap` (unchanged when None). Only local paths change."""
    if bootstrap is None:
        return planner, executor
    return (
        planner.model_copy(update={"base_model": bootstrap.local_dir(BOOTSTRAP_PLANNER_DIR)}),
        executor.model_copy(update={"checkpoint": bootstrap.local_path(BOOTSTRAP_EXECUTOR_FILE)}),
    )


def policy_from_inputs(
    planner: PlannerConfig,
    executor: ExecutorConfig,
    inputs: Mapping[str, object],
    *,
    bootstrap: str = "bootstrap",
    planner_adapter: str = "planner_adapter",
    executor_adapter: str = "executor_adapter",
    executor_weights: str = "adapter",
    cold_start: bool = False,
) -> PolicyRef:
    """The policy of a stage's resolved inputs: bases from the input `bootstrap` (else the configured ones), the
    planner adapter from the update artifact under `planner_adapter` (else, with `cold_start`, the configured
    `planner.cold_start_adapter`, else none) and the executor's `executor_weights` folder of the artifact under
    `executor_adapter` (else none). Missing keys and None values mean "not committed"."""
    planner, executor = on_base(planner, executor, inputs.get(bootstrap))
    p_art, e_art = inputs.get(planner_adapter), inputs.get(executor_adapter)
    p_dir = p_art.local_dir("adapter") if p_art is not None else (planner.cold_start_adapter if cold_start else None)
    e_dir = e_art.local_dir(executor_weights) if e_art is not None else None
    return PolicyRef(planner, executor, p_dir, e_dir)
