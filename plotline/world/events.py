"""Event inference from observations: the strength of every action between two frames, the dominant event,
and the ordered event sequence of a frame sequence. Works on Observations only (pixels, never state)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plotline.world.actions import ACTIONS
from plotline.world.detect import Observation
from plotline.world.state import Geometry


@dataclass
class DetectedEvent:
    """An event seen between frames `start` and `end` (indices into the observed sequence); `seen_at` is the
    first frame whose change from `start` registered it."""

    action: str
    start: int
    seen_at: int
    end: int
    strength: float


def event_strengths(a: Observation, b: Observation, geometry: Geometry) -> dict[str, float]:
    """Normalised evidence (1 = one complete event) of every changing action from frame a to frame b."""
    return {name: float(act.strength(a, b, geometry)) for name, act in ACTIONS.items() if act.changes}


def dominant_event(a: Observation, b: Observation, geometry: Geometry, threshold: float) -> tuple[str | None, float]:
    """The action with the strongest evidence from a to b, or (None, strength) when it is below `threshold`."""
    strengths = event_strengths(a, b, geometry)
    name = max(strengths, key=strengths.__getitem__)
    value = strengths[name]
    return (name if value >= threshold else None), value


def detect_events(observations: Sequence[Observation], geometry: Geometry, threshold: float) -> list[DetectedEvent]:
    """Ordered events in a frame sequence. From an anchor frame, the first later frame whose change from the
    anchor has a dominant action above `threshold` registers that action and becomes the new anchor; a
    repeat of the previous action extends it (so one event sampled densely or sparsely is seen once)."""
    events: list[DetectedEvent] = []
    anchor = 0
    for i in range(1, len(observations)):
        name, value = dominant_event(observations[anchor], observations[i], geometry, threshold)
        if name is None:
            continue
        if events and events[-1].action == name:
            events[-1].end = i
            events[-1].strength += value
        else:
            events.append(DetectedEvent(name, anchor, i, i, value))
        anchor = i
    return events


def collapse(actions: Sequence[str]) -> list[str]:
    """Drop `stay` and merge consecutive repeats (how a detector sees a sequence of events)."""
    out: list[str] = []
    for a in actions:
        if ACTIONS[a].changes and (not out or out[-1] != a):
            out.append(a)
    return out
