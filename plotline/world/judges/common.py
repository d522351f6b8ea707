"""Helpers shared by the judges: reading the ground truth from text, sequence metrics, reply formatting."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from plotline.world.actions import get_action
from plotline.world.events import collapse
from plotline.world.parse import parse_text
from plotline.world.state import Geometry, ObjectState


@dataclass(frozen=True)
class Expectation:
    """What a text says should happen: the subject, the ordered changing events, and per event count k the
    object's colour and visibility after k events (k = 0..len(events))."""

    shape: str | None
    colour: str | None
    events: tuple[str, ...]
    colours: tuple[str | None, ...]
    visible: tuple[bool, ...]


def expectation(instruction: str, steps: Sequence[str] | None = None) -> Expectation:
    """Read the expectation from ground-truth steps (one or more events each), or from the instruction when
    no steps are given. Repeats and `stay` are collapsed, as a detector would see them (remembered per texts: the
    result is immutable)."""
    return _expectation(instruction, tuple(steps) if steps is not None else None)


@lru_cache(maxsize=16384)
def _expectation(instruction: str, steps: tuple[str, ...] | None) -> Expectation:
    texts = [s for s in (steps or []) if s and s.strip()] or [instruction]
    parsed = [parse_text(t) for t in texts]
    shape = next((p.shape for p in parsed if p.shape), None) or parse_text(instruction).shape
    colour = next((p.colour for p in parsed if p.colour), None) or parse_text(instruction).colour
    events = tuple(collapse([a for p in parsed for a in p.actions]))
    colours: list[str | None] = [colour]
    visible = [not events or events[0] != "appear"]
    state = ObjectState(shape or "square", colour or "red", 0.0, 0.0, 1.0, 1.0 if visible[0] else 0.0)
    for name in events:
        state = get_action(name).apply(state, Geometry(100, 100))
        colours.append(state.colour if colour else None)
        visible.append(state.visible)
    return Expectation(shape, colour, events, tuple(colours), tuple(visible))


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions) between two sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def order_agreement(observed: Sequence[str], expected: Sequence[str]) -> float:
    """1 − edit distance / longer length: 1 for the same sequence, 0 for nothing in common or empty vs not."""
    n = max(len(observed), len(expected))
    return 1.0 if n == 0 else 1.0 - levenshtein(observed, expected) / n


def multiset_f1(observed: Sequence[str], expected: Sequence[str]) -> float:
    """F1 of the two event multisets (order ignored); 1 when both are empty."""
    if not observed and not expected:
        return 1.0
    common = sum((Counter(observed) & Counter(expected)).values())
    if common == 0:
        return 0.0
    p, r = common / len(observed), common / len(expected)
    return 2 * p * r / (p + r)


def occurrence_keys(actions: Sequence[str]) -> list[tuple[str, int]]:
    """(action, k) for the k-th occurrence of each action, so repeated actions match in order."""
    seen: Counter = Counter()
    out = []
    for a in actions:
        out.append((a, seen[a]))
        seen[a] += 1
    return out


def kendall_agreement(observed: Sequence[str], expected: Sequence[str]) -> float:
    """Share of pairs of matched events that keep the expected relative order (1 with one match, 0 with none)."""
    pos_o = {k: i for i, k in enumerate(occurrence_keys(observed))}
    matched = [k for k in occurrence_keys(expected) if k in pos_o]
    if len(matched) < 2:
        return 1.0 if matched else 0.0
    pairs = [(pos_o[matched[i]] < pos_o[matched[j]]) for i in range(len(matched)) for j in range(i + 1, len(matched))]
    return float(np.mean(pairs))


def ten(x: float) -> float:
    """A [0, 1] quantity as a 0–10 score rounded to 2 decimals."""
    return round(10.0 * min(max(float(x), 0.0), 1.0), 2)


def reply(scores: dict, think: dict | None = None) -> str:
    """The judge's reply text: one JSON object with the scores (and the `think` object when given)."""
    out = dict(scores)
    if think is not None:
        out["think"] = think
    return json.dumps(out)


def as_frames(frames) -> list[np.ndarray]:
    """A video [T, H, W, 3] or a sequence of HxWx3 frames as a list of uint8 arrays."""
    out = [np.asarray(f) for f in frames]
    if not out:
        raise ValueError("the judge needs at least one frame")
    for f in out:
        if f.ndim != 3 or f.shape[-1] < 3:
            raise ValueError(f"frames must be HxWx3, got shape {f.shape}")
    return out
