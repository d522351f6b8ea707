"""World state: one object's state, a scenario (initial state + ordered events), and frame geometry."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plotline.world.config import WorldConfig


@dataclass(frozen=True)
class ObjectState:
    """The single object: shape, palette colour, centre (x, y) and side `size` in pixels, opacity `alpha`."""

    shape: str
    colour: str
    x: float
    y: float
    size: float
    alpha: float = 1.0

    @property
    def visible(self) -> bool:
        """True when the object is drawn (alpha > 0)."""
        return self.alpha > 0.0

    def with_(self, **changes) -> ObjectState:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Geometry:
    """Frame size and event magnitudes in pixels, shared by the renderer, the scenario sampler and the judges."""

    height: int
    width: int
    move_fraction: float = 0.25
    min_size: float = 7.0
    max_size: float = 16.0
    scale_factor: float = 1.5

    @classmethod
    def from_config(
        cls, config: WorldConfig | None = None, height: int | None = None, width: int | None = None
    ) -> Geometry:
        """Geometry of `config` (defaults when None), optionally for another frame size (judges use the
        size of the frames they are given, so magnitudes scale with the picture)."""
        from plotline.world.config import WorldConfig

        config = config or WorldConfig()
        h = int(height or config.frame_height)
        w = int(width or config.frame_width)
        side = min(h, w)
        return cls(
            h,
            w,
            config.move_fraction,
            config.min_size_fraction * side,
            config.max_size_fraction * side,
            config.scale_factor,
        )

    def move_px(self, dx: int, dy: int) -> float:
        """Length in pixels of one move event along the unit direction (dx, dy)."""
        return self.move_fraction * (self.width if dx else self.height)

    @property
    def log_area_per_scale(self) -> float:
        """log of the area ratio of one grow event (side × scale_factor ⇒ area × scale_factor²)."""
        return 2.0 * math.log(self.scale_factor)


@dataclass(frozen=True)
class Scenario:
    """An initial object state and the ordered event names applied to it (one event per span)."""

    initial: ObjectState
    events: tuple[str, ...]

    def states(self, geometry: Geometry) -> list[ObjectState]:
        """The J + 1 states S_0..S_J: S_j is the state after the first j events."""
        from plotline.world.actions import get_action

        out = [self.initial]
        for name in self.events:
            out.append(get_action(name).apply(out[-1], geometry))
        return out
