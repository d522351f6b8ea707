"""Text → events over the world's vocabulary: finds every action phrase (by the action registry's patterns)
and the coloured shape each one is said of, in textual order. Used by render_from_steps, the judges (to read
instructions, step prompts and plans) and tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from plotline.world.actions import ACTIONS
from plotline.world.vocab import COLOUR_SYNONYMS, SHAPE_SYNONYMS


@dataclass(frozen=True)
class ParsedEvent:
    """One action phrase found in a text, with the subject it is said of (None where the text names none)."""

    action: str
    shape: str | None
    colour: str | None
    start: int
    end: int


@dataclass(frozen=True)
class ParsedText:
    """All events of a text in order, and the first coloured shape it mentions."""

    text: str
    events: tuple[ParsedEvent, ...]
    shape: str | None
    colour: str | None

    @property
    def actions(self) -> list[str]:
        """The event names in order."""
        return [e.action for e in self.events]


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[str, re.Pattern]]:
    return [(a.name, re.compile(p, re.I)) for a in ACTIONS.values() for p in a.patterns]


def _alt(words) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_SUBJECT = re.compile(rf"\b(?:({_alt(COLOUR_SYNONYMS)})\s+)?({_alt(SHAPE_SYNONYMS)})\b", re.I)
_SUBJECT_COLOUR_ONLY = re.compile(rf"\b(?:a|an|the)\s+({_alt(COLOUR_SYNONYMS)})\s+(?:one|object|shape|thing)\b", re.I)


@lru_cache(maxsize=16384)
def parse_text(text: str) -> ParsedText:
    """Events (registry actions) of `text` in textual order, each with its subject's shape and colour (remembered
    per text: the result is immutable)."""
    hits = sorted(
        ((m.start(), -(m.end() - m.start()), name, m.end()) for name, rx in _compiled() for m in rx.finditer(text))
    )
    spans: list[tuple[int, int, str]] = []
    for start, _neg_len, name, end in hits:
        if spans and start < spans[-1][1]:
            continue  # overlaps an earlier (or longer, same-start) match
        spans.append((start, end, name))

    def inside_event(pos: int) -> bool:
        return any(a <= pos < b for a, b, _ in spans)

    mentions: list[tuple[int, str | None, str | None]] = []
    for m in _SUBJECT.finditer(text):
        if not inside_event(m.start()):
            colour = COLOUR_SYNONYMS[m.group(1).lower()] if m.group(1) else None
            mentions.append((m.start(), SHAPE_SYNONYMS[m.group(2).lower()], colour))
    for m in _SUBJECT_COLOUR_ONLY.finditer(text):
        if not inside_event(m.start()):
            mentions.append((m.start(), None, COLOUR_SYNONYMS[m.group(1).lower()]))
    mentions.sort()

    events = []
    for start, end, name in spans:
        before = [mm for mm in mentions if mm[0] < start]
        chosen = before[-1] if before else (mentions[0] if mentions else (None, None, None))
        events.append(ParsedEvent(name, chosen[1], chosen[2], start, end))
    first_shape = next((m[1] for m in mentions if m[1]), None)
    first_colour = next((m[2] for m in mentions if m[2]), None)
    return ParsedText(text, tuple(events), first_shape, first_colour)


def parse_events(text: str) -> list[str]:
    """Just the event names of `text`, in order."""
    return parse_text(text).actions
