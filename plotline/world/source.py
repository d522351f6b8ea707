"""The shapes world as an instruction source (declared as `world` in plotline.data.sources, which imports this)."""

from __future__ import annotations

from plotline.world.config import WorldConfig
from plotline.world.instructions import instruction_rows


def world_source(world: WorldConfig) -> list[dict]:
    """Instruction rows (train and eval splits) generated from the `world` section."""
    return instruction_rows(world)
