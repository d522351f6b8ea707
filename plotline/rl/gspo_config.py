"""GSPO hyperparameters (planner update)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section, placement


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
    num_processes: int = placement(1, ge=1)
    """Data-parallel processes of the update_planner stage. 1: the stage trains in its own process. N > 1: the
    stage runs `accelerate launch` with N ranks (one per GPU; N gloo CPU processes when `planner.device` is
    `cpu` or no GPU is visible). The micro-batches of every mini-batch are shared round-robin across the ranks
    and their gradients summed before each optimiser step, so the update equals the single-process one; keep
    mini_batch_size / micro_batch_size a multiple of N so no rank idles."""
