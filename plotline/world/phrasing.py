"""Instruction phrasings and step captions. Each phrasing turns a subject ("red square") and the ordered
events into one instruction, keeping the events in temporal order in the text; it returns None for event
counts it cannot express."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from plotline.world.actions import get_action
from plotline.world.state import ObjectState

Phrasing = Callable[[str, Sequence[str]], str | None]
PHRASINGS: dict[str, Phrasing] = {}


def register_phrasing(name: str):
    """Decorator: make `fn(subject, events)` available as phrasing `name`."""

    def deco(fn: Phrasing) -> Phrasing:
        PHRASINGS[name] = fn
        return fn

    return deco


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _present(events: Sequence[str]) -> list[str]:
    return [get_action(e).present for e in events]


def _and_list(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@register_phrasing("sentence")
def _sentence(subject: str, events: Sequence[str]) -> str | None:
    """ "A red square moves to the right, turns blue and grows." (any count)"""
    return _cap(f"a {subject} {_and_list(_present(events))}.")


@register_phrasing("first_then")
def _first_then(subject: str, events: Sequence[str]) -> str | None:
    """ "First a red square moves to the right, then it turns blue, and finally it grows." (2+ events)"""
    if len(events) < 2:
        return None
    v = _present(events)
    middle = "".join(f", then it {p}" for p in v[1:-1])
    last = f", and finally it {v[-1]}" if len(v) > 2 else f", then it {v[-1]}"
    return f"First a {subject} {v[0]}{middle}{last}."


@register_phrasing("comma_then")
def _comma_then(subject: str, events: Sequence[str]) -> str | None:
    """ "A red square moves to the right, then turns blue, then grows." (2+ events)"""
    if len(events) < 2:
        return None
    v = _present(events)
    return _cap(f"a {subject} {v[0]}" + "".join(f", then {p}" for p in v[1:]) + ".")


@register_phrasing("after")
def _after(subject: str, events: Sequence[str]) -> str | None:
    """ "After a red square moves to the right, it turns blue and then grows." (2+ events)"""
    if len(events) < 2:
        return None
    v = _present(events)
    rest = v[1:]
    if len(rest) == 1:
        tail = rest[0]
    elif len(rest) == 2:
        tail = f"{rest[0]} and then {rest[1]}"
    else:
        tail = ", then ".join(rest[:-1]) + f", and then {rest[-1]}"
    return f"After a {subject} {v[0]}, it {tail}."


def phrase_instruction(name: str, subject: str, events: Sequence[str]) -> str | None:
    """Instruction text of phrasing `name`, or None when it cannot express this many events."""
    return PHRASINGS[name](subject, events)


def step_caption(state: ObjectState, event: str) -> str:
    """Ground-truth step prompt: a visual, present-tense caption of one event from the state before it,
    e.g. "a red square moves to the right", "a red square turns blue"."""
    return f"a {state.colour} {state.shape} {get_action(event).present}"
