"""GSPO hyperparameters (planner update)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section


class GSPOConfig(Section):
    """Group Sequence Policy Optimisation of the planner (DESIGN §4)."""

    clip: float = Field(5e-4, gt=0)
    """ε_p: clip range of the length-normalised sequence ratio."""
    adv_clip: float = Field(1.0, gt=0)
    """Advantages are clipped to [-adv_clip, adv_clip] before the surrogate."""
    kl_coef: float = Field(0.04, ge=0)
    """β_p: weight of the k3 KL estimate to the frozen reference."""
    reference: Literal["start", "base"] = "start"
    """KL reference: `start` = the starting planner (cold-start adapter), `base` = the base model without adapter."""
    learning_rate: float = Field(1e-5, gt=0)
    """AdamW learning rate of the LoRA parameters."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient-norm clip applied before every optimiser step."""
    inner_epochs: int = Field(1, ge=1)
    """Passes over the plans of one RL step."""
    mini_batch_size: int = Field(16, ge=1)
    """Sequences per optimiser step (gradients are accumulated over its micro-batches)."""
    micro_batch_size: int = Field(4, ge=1)
    """Sequences per forward/backward pass."""
