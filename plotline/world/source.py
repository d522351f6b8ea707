"""Registers the shapes world as the `world` instruction source (imported lazily by plotline.data.sources)."""
from __future__ import annotations

from plotline.data.sources import register_source
from plotline.world.instructions import instruction_rows


def world_source(config) -> list[dict]:
    """Instruction rows (train and eval splits) generated from `config.world`."""
    return instruction_rows(config.world)


register_source("world", world_source)
