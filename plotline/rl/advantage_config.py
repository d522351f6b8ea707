"""Advantage computation settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from plotline._base import Section


class SelfPacedConfig(Section):
    """Self-Paced GRPO reward curriculum over reward terms of increasing abstraction (DESIGN §5)."""

    enabled: bool = False
    """Replace the fixed R_exec weights with competence-aware softmax weights per group."""
    terms: list[str] = Field(default_factory=lambda: ["aesthetic", "consistency", "step"])
    """Reward terms r_1..r_K from concrete to abstract: `aesthetic` (PickScore), `consistency` (temporal judge's
    visual consistency), `physical`, `video` (R_video), `step` (R_step), `critic` (R_critic, the reflection
    critic's verdicts; needs `reflect.critic_reward.enabled`)."""
    thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.5, 0.5])
    """τ_j: competence threshold of each term (same length as `terms`)."""
    alpha: float = Field(5.0, gt=0)
    """α: softmax sharpness."""
    beta: float = 1.0
    """β: weight of the Hoyer-sparsity difference to the previous term."""

    @model_validator(mode="after")
    def _check_lengths(self) -> SelfPacedConfig:
        if len(self.thresholds) != len(self.terms):
            raise ValueError(f"thresholds has {len(self.thresholds)} entries but terms has {len(self.terms)}")
        return self


class AdvantageConfig(Section):
    """How rewards become group-relative advantages."""

    unscored_policy: Literal["drop", "zero", "fail"] = "drop"
    """What to do with unscored samples: `drop` (excluded from group statistics and from the update),
    `zero` (excluded from the statistics, kept with advantage 0), `fail` (abort the stage)."""
    std_mode: Literal["group", "batch"] = "group"
    """Divide (r − group mean) by the group's std, or by the std of all rewards of the batch."""
    std_ddof: int = Field(0, ge=0, le=1)
    """Delta degrees of freedom of the std (0: population, 1: sample)."""
    eps: float = Field(1e-6, gt=0)
    """Added to the std; a std below it marks a zero-variance group."""
    zero_variance_policy: Literal["zero", "drop"] = "zero"
    """Groups whose rewards are all equal (or with one scored member): advantages 0, or dropped."""
    clip: float | None = Field(5.0, gt=0)
    """Advantages are clipped to [−clip, clip] (None: no clipping)."""
    format_penalty: float = Field(1.0, ge=0)
    """R_plan −= format_penalty · (1 − format_reward): 0 for a clean plan, 0.5·λ padded, λ failed."""
    self_paced: SelfPacedConfig = Field(default_factory=SelfPacedConfig)
    """Optional self-paced curriculum for the executor reward."""
