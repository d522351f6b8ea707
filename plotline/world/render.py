"""Numpy renderer: uint8 videos [T, H, W, 3] of one shape on black. J events share the T frames in J equal
spans; within its span an event progresses linearly from the previous state and then holds its end state
for the span's last `hold_fraction`. Moves, size and opacity interpolate; a colour change wipes the new
colour across the shape from left to right (every pixel stays a palette colour)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from plotline.world.config import WorldConfig
from plotline.world.state import Geometry, ObjectState, Scenario
from plotline.world.vocab import PALETTE


@lru_cache(maxsize=256)
def _mask(shape: str, side: int) -> np.ndarray:
    c = np.arange(side) + 0.5
    xx, yy = np.meshgrid(c, c)
    masks = {
        "square": lambda: np.ones((side, side), dtype=bool),
        "circle": lambda: (xx - side / 2) ** 2 + (yy - side / 2) ** 2 <= (side / 2) ** 2,
        "triangle": lambda: np.abs(xx - side / 2) <= (np.floor(yy) + 1) / 2,
    }
    return masks[shape]()


def shape_mask(shape: str, side: int) -> np.ndarray:
    """Boolean [side, side] raster of `shape` (square; inscribed circle; triangle with apex up)."""
    return _mask(shape, int(side)).copy()


def span_bounds(num_frames: int, num_events: int) -> list[tuple[int, int]]:
    """Half-open frame ranges [a, b) of the J equal spans (J = num_events ≥ 1)."""
    if num_events < 1 or num_frames < num_events:
        raise ValueError(f"cannot split {num_frames} frames into {num_events} spans")
    edges = [round(j * num_frames / num_events) for j in range(num_events + 1)]
    return [(edges[j], edges[j + 1]) for j in range(num_events)]


def span_progress(offset: int, length: int, hold_fraction: float) -> float:
    """Event progress in [0, 1] at frame `offset` of a span of `length` frames: 0 on the span's first frame,
    rising linearly, 1 from (1 − hold_fraction) of the span on (always 1 on its last frame)."""
    if length <= 1:
        return 1.0
    return min(1.0, offset / max((length - 1) * (1.0 - hold_fraction), 1e-9))


FrameState = tuple[ObjectState, str, float]
"""One frame: (object with its pre-change colour and the frame's geometry/opacity, colour it changes to, wipe front
in [0, 1]) — the frame representation of state_latent.encode_frames and WorldStateDecoder."""


def frame_state(before: ObjectState, after: ObjectState, progress: float) -> FrameState:
    """The frame at `progress` of the event from `before` to `after` (geometry and opacity interpolated linearly,
    colour wiped across the shape, as render.draw draws it)."""
    lerp = lambda a, b: a + (b - a) * progress  # noqa: E731
    s = ObjectState(
        before.shape,
        before.colour,
        lerp(before.x, after.x),
        lerp(before.y, after.y),
        lerp(before.size, after.size),
        lerp(before.alpha, after.alpha),
    )
    return s, after.colour, progress


def span_frame_states(
    states: Sequence[ObjectState], bounds: Sequence[tuple[int, int]], hold_fraction: float
) -> list[FrameState]:
    """Per-frame states of the clean video: span j shows the event from states[j] to states[j + 1], progressing
    linearly and holding its end state for the span's last `hold_fraction` (plans.render_spans)."""
    return [
        frame_state(states[j], states[j + 1], span_progress(f - a, b - a, hold_fraction))
        for j, (a, b) in enumerate(bounds)
        for f in range(a, b)
    ]


def draw(frame: np.ndarray, s0: ObjectState, s1: ObjectState, p: float) -> None:
    """Draw the object at progress p from s0 to s1 into `frame` (in place; uint8 [H, W, 3])."""
    lerp = lambda a, b: a + (b - a) * p  # noqa: E731
    alpha = lerp(s0.alpha, s1.alpha)
    if alpha <= 0:
        return
    side = max(1, int(round(lerp(s0.size, s1.size))))
    x0 = int(round(lerp(s0.x, s1.x) - side / 2))
    y0 = int(round(lerp(s0.y, s1.y) - side / 2))
    mask = _mask(s0.shape, side)
    old = np.array(PALETTE[s0.colour], dtype=np.float64)
    new = np.array(PALETTE[s1.colour], dtype=np.float64)
    colours = np.repeat(old[None, :], side, axis=0)
    colours[: int(round(p * side))] = new  # the wipe: columns left of the front show the new colour
    patch = (np.broadcast_to(colours[None, :, :], (side, side, 3)) * alpha).round().astype(np.uint8)
    h, w = frame.shape[:2]
    ya, yb, xa, xb = max(0, y0), min(h, y0 + side), max(0, x0), min(w, x0 + side)
    if ya >= yb or xa >= xb:
        return
    sub_mask = mask[ya - y0 : yb - y0, xa - x0 : xb - x0]
    region = frame[ya:yb, xa:xb]
    region[sub_mask] = patch[ya - y0 : yb - y0, xa - x0 : xb - x0][sub_mask]


def render_states(
    states: Sequence[ObjectState], num_frames: int, height: int, width: int, hold_fraction: float = 0.25
) -> np.ndarray:
    """Video [T, H, W, 3] uint8 for the state sequence S_0..S_J (J ≥ 1 events, one span each; J = 0 gives a
    still video of S_0)."""
    video = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    if len(states) == 1:
        for f in range(num_frames):
            draw(video[f], states[0], states[0], 0.0)
        return video
    for j, (a, b) in enumerate(span_bounds(num_frames, len(states) - 1)):
        for f in range(a, b):
            draw(video[f], states[j], states[j + 1], span_progress(f - a, b - a, hold_fraction))
    return video


def render_scenario(scenario: Scenario, config: WorldConfig | None = None, num_frames: int | None = None) -> np.ndarray:
    """Render a scenario to a uint8 video [T, H, W, 3] (T = `num_frames` or config.num_frames)."""
    config = config or WorldConfig()
    geometry = Geometry.from_config(config)
    return render_states(
        scenario.states(geometry),
        int(num_frames or config.num_frames),
        geometry.height,
        geometry.width,
        config.hold_fraction,
    )


def render_from_steps(
    step_texts: Sequence[str], config: WorldConfig | None = None, num_frames: int | None = None
) -> np.ndarray:
    """Render the video that a list of step captions describes (each step's events in order, one span per
    event); raises ValueError when the texts do not parse into a possible scenario."""
    from plotline.world.scenario import scenario_from_steps

    config = config or WorldConfig()
    return render_scenario(scenario_from_steps(step_texts, config), config, num_frames)
