"""Shapes-world configuration. Extended by the world package."""
from __future__ import annotations

from pydantic import Field

from plotline._base import Section


class WorldConfig(Section):
    """The procedural shapes world (the embedded default)."""

    seed: int = 0
    """Seed of the instruction generator."""
    num_train_instructions: int = Field(32, ge=1)
    """Instructions generated for training."""
