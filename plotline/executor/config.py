"""Executor configuration (causal AR video diffusion). Extended by the executor package."""
from __future__ import annotations

from pydantic import Field

from plotline._base import Section


class ExecutorConfig(Section):
    """AR diffusion executor that renders a video chunk by chunk under step prompts."""

    backbone: str = "tiny"
    """Backbone name from the backbone registry (`tiny`, `self_forcing`, `longlive`)."""
    num_continuations: int = Field(4, ge=1)
    """N: continuations generated from each shared prefix (the executor's GRPO group size)."""
