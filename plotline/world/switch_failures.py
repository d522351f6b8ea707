"""Switch failures of the bootstrap executor's training videos: TempAct's failure modes at a prompt switch, planted
in the flow-matching targets (the captions stay clean) so the warm-started executor makes them and Flow-GRPO on the
switch chunk can remove them.

A training video is a list of per-frame states (`FrameState`: the object with its pre-change colour, the colour it
changes to, the wipe front), which plans.render_spans draws and state_latent.encode_frames encodes; a failure
rewrites that list from the switch frame k (the first frame of span j, the span whose event follows the switch):

- `delay` (late reaction): the video from frame k on is the clean video `delay_frames` frames late — frames
  [k, k + d) keep the previous span's end state, frame f ≥ k + d shows clean frame f − d, and what would come after
  the last frame is cut. With d ≥ L − 1 (L frames per chunk) the switch chunk shows no change at all: the new event
  only starts in the next chunk and the video's last event is lost.
- `blend` (old and new events mixed): in span j the previous span's event keeps going with weight 1 − w while the
  new event runs with weight w (w = `blend_new_weight`): the object's centre and side move along
  (1 − w)·Δ_old + w·Δ_new, where Δ_old is the old event once more from S_j and Δ_new = S_{j+1} − S_j (0 for a
  `stay` span: the old event does not stop). The later events then follow from that blended end state (the new event
  is never completed). Only when the old event is geometric (a move, grow or shrink) and the new one geometric or
  `stay`, whose effects add, and differs from the old one; sizes may then leave the world's limits by one scale
  step.

A failure that does not apply (a `stay` switch span for `delay`; see above for `blend`; a state leaving the frame)
returns None and the clean video is kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plotline.world.bootstrap_config import SwitchFailureConfig
from plotline.world.plans import possible
from plotline.world.render import FrameState, draw, frame_state, span_frame_states  # noqa: F401 - re-exported
from plotline.world.state import Geometry, ObjectState, Scenario


@dataclass(frozen=True)
class SwitchVideo:
    """What a failure may rewrite: the video's states S_0..S_J, its events, span bounds, the switch span j ≥ 1."""

    states: Sequence[ObjectState]
    events: Sequence[str]
    bounds: Sequence[tuple[int, int]]
    span: int
    geometry: Geometry
    hold_fraction: float


SwitchFailure = Callable[[SwitchVideo, list[FrameState], SwitchFailureConfig], list[FrameState] | None]
SWITCH_FAILURES: dict[str, SwitchFailure] = {}
"""Switch failures by name: (video, clean frame states, config) → failed frame states, or None when not applicable."""


def register_switch_failure(name: str):
    """Decorator: make `fn(video, frames, config)` available as switch failure `name`."""

    def deco(fn: SwitchFailure) -> SwitchFailure:
        SWITCH_FAILURES[name] = fn
        return fn

    return deco


def draw_frame_states(frames: Sequence[FrameState], height: int, width: int):
    """uint8 video [T, H, W, 3] of per-frame states (the pixels render.draw gives for the same frames)."""
    import numpy as np

    video = np.zeros((len(frames), height, width, 3), dtype=np.uint8)
    for f, (s, new, wipe) in enumerate(frames):
        draw(video[f], s, s.with_(colour=new), wipe)
    return video


def in_frame(states: Sequence[ObjectState], geometry: Geometry) -> bool:
    """Whether every state lies inside the frame and the world's size limits."""
    eps = 1e-6
    for s in states:
        half = s.size / 2
        if not (
            geometry.min_size - eps <= s.size <= geometry.max_size + eps
            and half <= s.x <= geometry.width - half
            and half <= s.y <= geometry.height - half
        ):
            return False
    return True


def _changing(name: str) -> bool:
    from plotline.world.actions import get_action

    return get_action(name).changes


@register_switch_failure("delay")
def _delay(video: SwitchVideo, frames: list[FrameState], config: SwitchFailureConfig) -> list[FrameState] | None:
    """The video from the switch frame k on, `delay_frames` late (frames [k, k + d) hold frame k − 1)."""
    if not _changing(video.events[video.span]):
        return None
    k, d = video.bounds[video.span][0], config.delay_frames
    held = [frames[k - 1]] * d
    return (frames[:k] + held + frames[k:])[: len(frames)]


def _geometric(before: ObjectState, after: ObjectState) -> bool:
    """The event from `before` to `after` changes only the centre and the side (a move, grow or shrink)."""
    moved = (before.x, before.y, before.size) != (after.x, after.y, after.size)
    return moved and (before.shape, before.colour, before.alpha) == (after.shape, after.colour, after.alpha)


@register_switch_failure("blend")
def _blend(video: SwitchVideo, frames: list[FrameState], config: SwitchFailureConfig) -> list[FrameState] | None:
    """Span j shows (1 − w)·(the old event once more) + w·(the new event); later spans follow from its end."""
    from plotline.world.actions import get_action

    j, g = video.span, video.geometry
    prev, s, nxt = video.states[j - 1], video.states[j], video.states[j + 1]
    old, new = video.events[j - 1], video.events[j]
    if not _changing(old) or not _geometric(prev, s):
        return None
    again = get_action(old).apply(s, g)
    if not (_geometric(s, again) and (not _changing(new) or _geometric(s, nxt))) or again == nxt:
        return None
    w = config.blend_new_weight
    mix = lambda a, b, c: a + (1.0 - w) * (b - a) + w * (c - a)  # noqa: E731
    end = s.with_(x=mix(s.x, again.x, nxt.x), y=mix(s.y, again.y, nxt.y), size=mix(s.size, again.size, nxt.size))
    rest = tuple(video.events[j + 1 :])
    if not possible(end, rest):
        return None
    later = Scenario(end, rest).states(g)
    loose = Geometry(g.height, g.width, g.move_fraction, g.min_size / g.scale_factor, g.max_size * g.scale_factor)
    if not in_frame(later, loose):
        return None
    return span_frame_states(list(video.states[: j + 1]) + later, video.bounds, video.hold_fraction)


def apply_switch_failure(
    video: SwitchVideo, frames: list[FrameState], config: SwitchFailureConfig, rng: random.Random
) -> tuple[list[FrameState], str]:
    """(frame states, failure name or "clean"): each failure of `config.rates` fires with its rate, tried in the
    registry's order (SWITCH_FAILURES: delay, then blend; the first that fires and applies wins). A zero rate draws
    nothing from `rng`."""
    for name in SWITCH_FAILURES:
        rate = config.rates.get(name, 0.0)
        if rate > 0.0 and rng.random() < rate:
            bad = SWITCH_FAILURES[name](video, frames, config)
            if bad is not None:
                return bad, name
    return frames, "clean"
