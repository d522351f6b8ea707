"""The built-in stage names: the one list that the stage package, the orchestration defaults, the stage flows and
infra/prefect.yaml are derived from or checked against (a plugin stage registers itself on top of these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinStage:
    """One built-in stage: its name (the module `stages.<name>`) and whether it holds a GPU while it runs."""

    name: str
    gpu: bool
    """Whether the stage runs on the GPU work pool and takes a slot of the GPU concurrency limit by default."""


STAGES: tuple[BuiltinStage, ...] = (
    BuiltinStage("instructions", gpu=False),
    BuiltinStage("bootstrap", gpu=False),
    BuiltinStage("plan", gpu=True),
    BuiltinStage("rollout", gpu=True),
    BuiltinStage("score", gpu=True),
    BuiltinStage("advantage", gpu=False),
    BuiltinStage("update_planner", gpu=True),
    BuiltinStage("update_executor", gpu=True),
    BuiltinStage("evaluate", gpu=True),
    BuiltinStage("synthesize", gpu=False),
    BuiltinStage("generate", gpu=True),
)
"""Every built-in stage, in pipeline order."""

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
"""Names of the built-in stages, in pipeline order."""

GPU_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.gpu)
"""Built-in stages that hold a GPU while they run."""

SETUP_STAGES: tuple[str, ...] = ("instructions",)
"""Stages the train flow runs once at step 0 before the loop by default."""

STEP_STAGES: tuple[str, ...] = ("plan", "rollout", "score", "advantage", "update_planner", "update_executor")
"""Stages of one RL step, in order (DESIGN §2): the train flow's default loop."""
