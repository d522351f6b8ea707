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
    """What the stage does in a few words, the important ones first, at most 15 characters: the Prefect UI's
    deployment list shows about 26 characters of a name in a 1400-pixel window, and the deployment is named
    `<title> (<orchestration.deployment_name>)` (with the default `plotline`, 11 more)."""


STAGES: tuple[BuiltinStage, ...] = (
    BuiltinStage("instructions", gpu=False, title="make prompts"),
    BuiltinStage("bootstrap", gpu=False, title="warm start"),
    BuiltinStage("plan", gpu=True, title="sample plans"),
    BuiltinStage("rollout", gpu=True, title="render rollouts"),
    BuiltinStage("score", gpu=True, title="judge rollouts"),
    BuiltinStage("advantage", gpu=False, title="advantages"),
    BuiltinStage("update_planner", gpu=True, title="GSPO planner"),
    BuiltinStage("update_executor", gpu=True, title="Flow-GRPO"),
    BuiltinStage("evaluate", gpu=True, title="held-out eval"),
    BuiltinStage("synthesize", gpu=False, title="write prompts"),
    BuiltinStage("generate", gpu=True, title="render videos"),
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
