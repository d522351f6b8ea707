"""The built-in stage names: the one list that the stage package, the orchestration defaults, the stage flows and
infra/prefect.yaml are derived from or checked against (a plugin stage registers itself on top of these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinStage:
    """One built-in stage: its name (the module `stages.<name>`), whether it holds a GPU while it runs, and the
    short title its deployment carries in the Prefect UI."""

    name: str
    gpu: bool
    """Whether the stage runs on the GPU work pool and takes a slot of the GPU concurrency limit by default."""
    title: str
    """What the stage does, in a few words (its deployment is named `<orchestration.deployment_name>: <title>`)."""


STAGES: tuple[BuiltinStage, ...] = (
    BuiltinStage("instructions", gpu=False, title="import or generate instructions"),
    BuiltinStage("bootstrap", gpu=False, title="warm-start planner and executor"),
    BuiltinStage("plan", gpu=True, title="sample plans"),
    BuiltinStage("rollout", gpu=True, title="render continuations"),
    BuiltinStage("score", gpu=True, title="judge plans and videos"),
    BuiltinStage("advantage", gpu=False, title="group-relative advantages"),
    BuiltinStage("update_planner", gpu=True, title="GSPO planner update"),
    BuiltinStage("update_executor", gpu=True, title="Flow-GRPO executor update"),
    BuiltinStage("evaluate", gpu=True, title="held-out evaluation"),
    BuiltinStage("synthesize", gpu=False, title="synthesize instructions"),
    BuiltinStage("generate", gpu=True, title="render videos for prompts"),
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
