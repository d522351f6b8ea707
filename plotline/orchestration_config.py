"""Orchestration settings (how flows run stages). Extended by the orchestration work."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section


class OrchestrationConfig(Section):
    """How the train/evaluate flows execute stages."""

    mode: Literal["inline", "deployments"] = "inline"
    """`inline`: stages run in-process (embedded default); `deployments`: each stage via run_deployment on its work pool."""
    stage_retries: int = Field(1, ge=0)
    """Retries of a failed stage before the flow fails."""
    retry_delay_s: float = Field(2.0, ge=0)
    """Base delay between stage retries (doubles each retry)."""
    setup_stages: list[str] = Field(default_factory=lambda: ["instructions"])
    """Stages run once at step 0 before the loop (run-level artifacts such as the instructions)."""
    step_stages: list[str] = Field(default_factory=lambda: [
        "plan", "rollout", "score", "advantage", "update_planner", "update_executor"])
    """Stages run in order at every RL step (DESIGN §2). Each must be a registered stage."""
