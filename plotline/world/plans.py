"""Plans in the shapes world: the template plan a planner should write (the ground-truth steps, one event per
span, spare spans filled with `stay` captions), controlled corruptions of it (so a bootstrap planner can be
competent but imperfect), and the video a plan of one-event steps shows over the executor's spans."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np

from plotline.world.actions import get_action
from plotline.world.phrasing import step_caption
from plotline.world.render import draw, span_progress
from plotline.world.state import Geometry, ObjectState, Scenario

STAY = "stay"
"""The filler event of spare spans (renders as a held span; judges ignore it)."""


def padded_events(events: Sequence[str], num_spans: int) -> tuple[str, ...]:
    """The events followed by `stay` up to `num_spans` (ValueError when there are more events than spans)."""
    if len(events) > num_spans:
        raise ValueError(f"{len(events)} events do not fit {num_spans} spans of one event each")
    return tuple(events) + (STAY,) * (num_spans - len(events))


def possible(initial: ObjectState, events: Sequence[str]) -> bool:
    """Whether the events can happen one after another from `initial` (e.g. no `appear` while visible)."""
    state = initial
    for name in events:
        action = get_action(name)
        if not action.possible(state):
            return False
        state = action.apply(state, Geometry(100, 100))
    return True


def captions(initial: ObjectState, events: Sequence[str]) -> list[str]:
    """One caption per event, each said of the object's state just before it ("a red square turns blue")."""
    states = Scenario(initial, tuple(events)).states(Geometry(100, 100))
    return [step_caption(states[j], e) for j, e in enumerate(events)]


def template_plan(scenario: Scenario, num_spans: int) -> list[str]:
    """The plan a competent planner writes: the ground-truth steps in order, then `stay` captions."""
    return captions(scenario.initial, padded_events(scenario.events, num_spans))


Corruption = Callable[[tuple[str, ...], random.Random, str | None], tuple[str, ...] | None]
CORRUPTIONS: dict[str, Corruption] = {}
"""Plan corruptions by name: (padded events, rng, instruction phrasing) → corrupted padded events, or None when
not applicable."""


def register_corruption(name: str):
    """Decorator: make `fn(events, rng, phrasing)` available as corruption `name`."""

    def deco(fn: Corruption) -> Corruption:
        CORRUPTIONS[name] = fn
        return fn

    return deco


def _changing(events: Sequence[str]) -> list[int]:
    return [i for i, e in enumerate(events) if e != STAY]


@register_corruption("swap")
def _swap(events: tuple[str, ...], rng: random.Random, phrasing: str | None = None) -> tuple[str, ...] | None:
    """Two adjacent events in the wrong order."""
    idx = _changing(events)
    pairs = [(a, b) for a, b in zip(idx, idx[1:]) if events[a] != events[b]]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    out = list(events)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


@register_corruption("misread_after")
def _misread_after(events: tuple[str, ...], rng: random.Random, phrasing: str | None = None) -> tuple[str, ...] | None:
    """ "After X, it Y" read as Y before X: the event of the `after` clause moved behind the next one (only for
    instructions in the `after` phrasing)."""
    idx = _changing(events)
    if phrasing != "after" or len(idx) < 2:
        return None
    out = list(events)
    out[idx[0]], out[idx[1]] = out[idx[1]], out[idx[0]]
    return tuple(out)


@register_corruption("drop")
def _drop(events: tuple[str, ...], rng: random.Random, phrasing: str | None = None) -> tuple[str, ...] | None:
    """One event left out (a `stay` at the end instead)."""
    idx = _changing(events)
    if len(idx) < 2:
        return None
    i = rng.choice(idx)
    return events[:i] + events[i + 1 :] + (STAY,)


def noisy_plan(
    scenario: Scenario, num_spans: int, rng: random.Random, rates: dict[str, float], phrasing: str | None = None
) -> tuple[list[str], str]:
    """(plan, corruption name or "template"): each corruption is applied with its own rate (in the order of
    `rates`; the first that fires and applies wins); one that does not apply to this instruction or yields an
    impossible sequence leaves the template plan."""
    events = padded_events(scenario.events, num_spans)
    for name, rate in rates.items():
        if rng.random() < rate:
            bad = CORRUPTIONS[name](events, rng, phrasing)
            if bad is not None and possible(scenario.initial, bad):
                return captions(scenario.initial, bad), name
    return captions(scenario.initial, events), "template"


def render_spans(
    states: Sequence[ObjectState], bounds: Sequence[tuple[int, int]], height: int, width: int, hold_fraction: float
) -> np.ndarray:
    """uint8 video [bounds[-1][1], H, W, 3]: span j (frames bounds[j]) shows the event from states[j] to
    states[j + 1], progressing linearly and holding its end state for the span's last `hold_fraction`."""
    video = np.zeros((bounds[-1][1], height, width, 3), dtype=np.uint8)
    for j, (a, b) in enumerate(bounds):
        for f in range(a, b):
            draw(video[f], states[j], states[j + 1], span_progress(f - a, b - a, hold_fraction))
    return video


def span_bounds_from_starts(starts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Half-open frame ranges of spans that start at `starts` in a video of `num_frames` frames."""
    ends = list(starts[1:]) + [num_frames]
    return [(a, b) for a, b in zip(starts, ends)]
