"""Reading synthesis replies into candidates and checking each candidate on its own.

A reply should hold `{"instructions": [{"prompt": "...", "steps": ["...", ...]}, ...]}`; a bare JSON array,
code fences, thinking blocks and prose around the JSON are tolerated. Checks that need the accepted set
(duplicates, diversity, quotas) live in `plotline.data.synth.Selection`.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from plotline.data.synth_config import SynthValidation
from plotline.data.textsim import content_stems, stem, words
from plotline.rewards.jsonextract import JSONExtractError, extract_json, strip_thinking

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_PROMPT_KEYS = ("prompt", "instruction", "text", "description", "caption")
_STEP_KEYS = ("steps", "events", "step_prompts", "sequence")
_LIST_KEYS = ("instructions", "prompts", "items", "candidates", "data")


class ReplyError(ValueError):
    """A reply holds no usable list of candidates; the message says why."""


@dataclass
class Candidate:
    """One proposed instruction as read from a reply (values may be missing or malformed)."""

    prompt: str | None
    steps: list[str] | None
    problems: list[str] = field(default_factory=list)
    """Problems found while reading the item (e.g. `steps` not a list of strings)."""


def _array_in(text: str) -> list | None:
    """The first JSON array that decodes in `text` (outermost first), or None."""
    for start in [m.start() for m in re.finditer(r"\[", text)]:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(re.sub(r",\s*([\]}])", r"\1", text[start : i + 1]))
                    except ValueError:
                        break
                    if isinstance(value, list):
                        return value
                    break
    return None


def _items_of(value: Any) -> list | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in _LIST_KEYS:
            if isinstance(value.get(key), list):
                return value[key]
        if any(k in value for k in _PROMPT_KEYS):
            return [value]
    return None


def parse_reply(raw: str | None) -> list[Candidate]:
    """Candidates of one reply; raises ReplyError when no list of instructions can be recovered."""
    if not isinstance(raw, str) or not raw.strip():
        raise ReplyError("empty reply")
    text = strip_thinking(raw)
    if not text:
        raise ReplyError("reply holds only a thinking block")
    items = None
    for region in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        try:
            items = _items_of(json.loads(region))
        except ValueError:
            items = None
        if items is None:
            try:
                items = _items_of(extract_json(region, _LIST_KEYS + _PROMPT_KEYS).value)
            except JSONExtractError:
                items = None
        if items is None:
            items = _items_of(_array_in(region))
        if items is not None:
            break
    if items is None:
        raise ReplyError("no JSON list of instructions in reply")
    if not items:
        raise ReplyError("the reply's list of instructions is empty")
    return [read_item(item) for item in items]


def read_item(item: Any) -> Candidate:
    """A Candidate from one list item: an object with a prompt and steps, or a bare prompt string."""
    if isinstance(item, str):
        return Candidate(" ".join(item.split()) or None, None)
    if not isinstance(item, dict):
        return Candidate(None, None, [f"item is a {type(item).__name__}, not an object"])
    prompt = next((item[k] for k in _PROMPT_KEYS if isinstance(item.get(k), str)), None)
    prompt = " ".join(prompt.split()) if prompt else None
    raw_steps = next((item[k] for k in _STEP_KEYS if k in item), None)
    problems: list[str] = []
    steps: list[str] | None = None
    if raw_steps is not None:
        if isinstance(raw_steps, list) and all(isinstance(s, str) and s.strip() for s in raw_steps):
            steps = [" ".join(s.split()) for s in raw_steps]
        elif isinstance(raw_steps, list) and all(isinstance(s, dict) for s in raw_steps):
            texts = [
                next((s[k] for k in ("step", "text", "event", "caption") if isinstance(s.get(k), str)), None)
                for s in raw_steps
            ]
            if all(t and t.strip() for t in texts):
                steps = [" ".join(t.split()) for t in texts if t]
            else:
                problems.append("steps are objects without text")
        else:
            problems.append("steps is not a list of non-empty strings")
    return Candidate(prompt, steps, problems)


def _first_positions(tokens: Sequence[str]) -> dict[str, list[int]]:
    pos: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        pos.setdefault(t, []).append(i)
    return pos


def step_alignment(prompt: str, steps: Sequence[str]) -> tuple[list[float], list[float | None]]:
    """(coverage, position) per step: the share of the step's content stems found in the prompt, and the
    median prompt position of its distinctive stems (those no other step uses), None when none is found.
    Occurrences are matched left to right, each step searching from the previous step's anchor on."""
    tokens = [stem(w) for w in words(prompt)]
    where = _first_positions(tokens)
    stem_sets = [set(content_stems(s)) for s in steps]
    coverage: list[float] = []
    positions: list[float | None] = []
    floor = -1
    for j, own in enumerate(stem_sets):
        others = set().union(*(s for i, s in enumerate(stem_sets) if i != j)) if len(stem_sets) > 1 else set()
        found = [s for s in own if s in where]
        coverage.append(len(found) / len(own) if own else 0.0)
        distinctive = [s for s in found if s not in others] or found
        hits: list[int] = []
        for s in distinctive:
            later = [p for p in where[s] if p >= floor]
            hits.append(later[0] if later else where[s][0])
        if hits:
            pos = float(statistics.median(hits))
            positions.append(pos)
            floor = int(pos)
        else:
            positions.append(None)
    return coverage, positions


def _has_marker(prompt: str, markers: Sequence[str]) -> bool:
    text = " " + " ".join(words(prompt)) + " "
    return any(f" {' '.join(words(m))} " in text for m in markers if words(m))


def check_candidate(
    cand: Candidate,
    requested_steps: int,
    rules: SynthValidation,
    min_steps: int,
    max_steps: int,
    banned: Sequence[str] = (),
) -> list[str]:
    """Every reason `cand` is unusable on its own (empty list: it passes). Checks: a prompt of the allowed
    length, steps listed (count in range, equal to the request when so configured, each short), every step
    described in the prompt, in order, a temporal marker when there are several steps, no banned phrase."""
    problems = list(cand.problems)
    prompt = cand.prompt
    if not prompt:
        return problems + ["no prompt text"]
    n_words = len(prompt.split())
    if n_words < rules.min_words:
        problems.append(f"prompt has {n_words} words (min {rules.min_words})")
    if n_words > rules.max_words:
        problems.append(f"prompt has {n_words} words (max {rules.max_words})")
    if len(prompt) > rules.max_chars:
        problems.append(f"prompt has {len(prompt)} characters (max {rules.max_chars})")
    lowered = " ".join(words(prompt))
    for phrase in banned:
        if phrase.strip() and " ".join(words(phrase)) in lowered:
            problems.append(f"contains banned phrase {phrase!r}")
    steps = cand.steps
    if steps is None:
        if rules.require_steps and not cand.problems:
            problems.append("no steps listed")
        return problems
    n = len(steps)
    if not min_steps <= n <= max_steps:
        problems.append(f"{n} steps (allowed {min_steps}-{max_steps})")
    elif rules.match_requested_steps and n != requested_steps:
        problems.append(f"{n} steps, {requested_steps} requested")
    long_steps = [i + 1 for i, s in enumerate(steps) if len(s.split()) > rules.max_step_words]
    if long_steps:
        problems.append(f"step(s) {long_steps} longer than {rules.max_step_words} words")
    if rules.min_step_overlap > 0 or rules.check_order:
        coverage, positions = step_alignment(prompt, steps)
        if rules.min_step_overlap > 0:
            missing = [f"{j + 1} ({c:.2f})" for j, c in enumerate(coverage) if c < rules.min_step_overlap]
            if missing:
                problems.append(
                    f"step(s) {', '.join(missing)} not described in the prompt "
                    f"(overlap below {rules.min_step_overlap:g})"
                )
        if rules.check_order and n >= 2:
            known = [p for p in positions if p is not None]
            if any(b < a for a, b in zip(known, known[1:])):
                problems.append("steps are not in the prompt's order")
    if rules.require_temporal_marker and n >= 2 and not _has_marker(prompt, rules.temporal_markers):
        problems.append("no temporal marker (e.g. then, after, finally) for a multi-step prompt")
    return problems
