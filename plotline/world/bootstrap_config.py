"""Settings of the bootstrap stage: how the tiny world planner and executor are warm-started."""

from __future__ import annotations

from pydantic import Field, model_validator

from plotline._base import Section


class PlannerBootstrapConfig(Section):
    """Tiny Qwen3 planner: tokenizer from the world's texts, full-weight SFT on (noisy) template plans."""

    sft_instructions: int = Field(1200, ge=1)
    """Training-split instructions generated for SFT (a superset of the run's training instructions; never a
    held-out combination, so eval instructions stay unseen)."""
    targets_per_instruction: int = Field(2, ge=1)
    """Independently corrupted template plans per SFT instruction."""
    corruptions: dict[str, float] = Field(default_factory=lambda: {"misread_after": 0.7})
    """Rate of each plan corruption (plotline.world.plans.CORRUPTIONS) among the SFT targets it applies to: the
    planner learns to make these mistakes, which RL can then remove. Default: "After X, it Y" instructions are
    planned Y-first 70 % of the time (a systematic misreading of a temporal connective)."""
    vocab_size: int = Field(1024, ge=300)
    """Byte-level BPE vocabulary trained on the world's texts (every world word becomes one token)."""
    hidden_size: int = Field(64, ge=16)
    """Qwen3 hidden size."""
    num_layers: int = Field(2, ge=1)
    """Qwen3 decoder layers."""
    num_heads: int = Field(4, ge=1)
    """Attention heads."""
    num_kv_heads: int = Field(2, ge=1)
    """Key/value heads (grouped-query attention)."""
    steps: int = Field(400, ge=1)
    """SFT optimiser steps."""
    batch_size: int = Field(16, ge=1)
    """Sequences per SFT step."""
    learning_rate: float = Field(3e-3, gt=0)
    """AdamW learning rate of the full weights."""

    @model_validator(mode="after")
    def _check(self) -> PlannerBootstrapConfig:
        from plotline.world.plans import CORRUPTIONS

        unknown = sorted(set(self.corruptions) - set(CORRUPTIONS))
        if unknown:
            raise ValueError(f"unknown plan corruptions {unknown}; known: {sorted(CORRUPTIONS)}")
        if any(not 0.0 <= v <= 1.0 for v in self.corruptions.values()):
            raise ValueError(f"corruption rates must lie in [0, 1], got {self.corruptions}")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must be a multiple of num_heads, and num_heads of num_kv_heads")
        return self


class SwitchFailureConfig(Section):
    """Switch failures planted in the bootstrap executor's training videos (plotline.world.switch_failures)."""

    rates: dict[str, float] = Field(default_factory=dict)
    """Rate of each failure kind (SWITCH_FAILURES: `delay`, `blend`) among the training videos whose switch span it
    applies to, tried in the registry's order whatever the order here (the first that fires and applies wins; so
    `blend`'s rate applies among the videos `delay` left clean). Empty: clean videos only."""
    delay_frames: int = Field(2, ge=1)
    """`delay`: frames d by which the video from the switch frame on runs late (d ≥ frames per chunk − 1: the switch
    chunk shows no change)."""
    blend_new_weight: float = Field(0.25, ge=0.0, le=1.0)
    """`blend`: weight w of the new event in the switch span (the old event keeps going with 1 − w)."""

    @model_validator(mode="after")
    def _check(self) -> SwitchFailureConfig:
        from plotline.world.switch_failures import SWITCH_FAILURES

        unknown = sorted(set(self.rates) - set(SWITCH_FAILURES))
        if unknown:
            raise ValueError(f"unknown switch failures {unknown}; known: {sorted(SWITCH_FAILURES)}")
        bad = {k: v for k, v in self.rates.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"switch failure rates must lie in [0, 1], got {bad}")
        return self


class ExecutorBootstrapConfig(Section):
    """Tiny causal DiT (`shapes` backbone): flow matching on rendered world videos, teacher-forced over chunks."""

    steps: int = Field(1500, ge=1)
    """Optimiser steps."""
    batch_size: int = Field(16, ge=1)
    """Videos per step (fresh random scenarios every step)."""
    learning_rate: float = Field(2e-3, gt=0)
    """Peak AdamW learning rate (cosine decay to 0)."""
    pool_size: int = Field(3000, ge=1)
    """Rendered training videos the batches are drawn from (rendered and encoded once per bootstrap)."""
    switch_failures: SwitchFailureConfig = Field(default_factory=SwitchFailureConfig)
    """Failures at the prompt switch planted in the training videos (captions stay clean): the executor learns to
    react late or blend the old and new events, which Flow-GRPO on the switch chunk can then remove. Default: none."""


class BootstrapConfig(Section):
    """Warm start of both policies (DESIGN §6): competent but imperfect, as a cold-start planner and a
    Self-Forcing base are."""

    planner: PlannerBootstrapConfig = Field(default_factory=PlannerBootstrapConfig)
    """The planner's warm start."""
    executor: ExecutorBootstrapConfig = Field(default_factory=ExecutorBootstrapConfig)
    """The executor's warm start."""
