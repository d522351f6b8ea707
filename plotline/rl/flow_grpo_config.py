"""Flow-GRPO hyperparameters (executor update)."""
from __future__ import annotations

from pydantic import Field

from plotline._base import Section


class FlowGRPOConfig(Section):
    """Flow-GRPO with RatioNorm on the transition chunk."""

    clip: float = Field(1e-5, gt=0)
    """ε_e: clip range of the per-step likelihood ratio."""
