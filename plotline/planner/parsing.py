"""Turning raw planner text into exactly J step prompts, with a format reward (DESIGN §2, §4).

Format reward: 1 when at least J steps were found (extra steps are dropped), 0.5 when fewer were found (padded
with the last step), 0 when nothing usable was found (every span falls back to the global prompt).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from plotline.executor.prompts import smooth_steps

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

STATUS_OK = "ok"
STATUS_TRUNCATED = "truncated"
STATUS_PADDED = "padded"
STATUS_UNPARSED = "unparsed"
STATUS_FAILED = "failed"
PARSE_STATUSES = (STATUS_OK, STATUS_TRUNCATED, STATUS_PADDED, STATUS_UNPARSED, STATUS_FAILED)
"""ok/truncated: ≥ J steps (reward 1); padded: fewer (0.5); unparsed: no usable array (0); failed: sampling failed (0)."""

FORMAT_REWARD = {STATUS_OK: 1.0, STATUS_TRUNCATED: 1.0, STATUS_PADDED: 0.5, STATUS_UNPARSED: 0.0, STATUS_FAILED: 0.0}

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")
_TEXT_KEYS = ("prompt", "caption", "description", "text", "step", "content")


@dataclass(frozen=True)
class ParsedPlan:
    """Result of parsing one completion: J steps, their smoothed versions, the format reward and a status."""

    steps: list[str]
    smoothed_steps: list[str]
    format_reward: float
    status: str
    found: int
    """How many usable steps the text contained before truncation/padding."""


def strip_thinking(text: str) -> str:
    """The answer part of a completion: text after the last `</think>`; an unclosed `<think>` drops the rest."""
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in text:
        return text.split(THINK_OPEN, 1)[0]
    return text


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced `[...]` region, outermost first, ignoring brackets inside JSON strings."""
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    in_str, esc = False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and stack:
            in_str = True
        elif ch == "[":
            stack.append(i)
        elif ch == "]" and stack:
            start = stack.pop()
            spans.append((start, i + 1))
    spans.sort(key=lambda s: (s[0], -s[1]))
    return spans


def _load_array(fragment: str):
    for candidate in (fragment, _TRAILING_COMMA.sub(r"\1", fragment)):
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, list):
            return value
    return None


def _step_text(item) -> str | None:
    if isinstance(item, str):
        return " ".join(item.split()) or None
    if isinstance(item, dict):
        for key in _TEXT_KEYS:
            if isinstance(item.get(key), str) and item[key].strip():
                return " ".join(item[key].split())
    return None


def extract_steps(text: str) -> list[str]:
    """Usable step strings from the first JSON array (fenced blocks first) in the answer part of `text`;
    tolerates thinking blocks, code fences, surrounding prose and trailing commas. [] when none is usable."""
    answer = strip_thinking(text)
    regions = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    for region in regions:
        for start, end in _bracket_spans(region):
            value = _load_array(region[start:end])
            if value is None:
                continue
            steps = [s for s in (_step_text(v) for v in value) if s]
            if steps:
                return steps
    return []


def parse_plan(text: str, num_steps: int, global_prompt: str, joiner: str = " ") -> ParsedPlan:
    """Parse a completion into exactly J = `num_steps` steps: truncate extras (reward 1), pad a short list with
    its last step (0.5), or fall back to the global prompt for every span (0)."""
    found = extract_steps(text or "")
    if len(found) >= num_steps:
        steps, status = found[:num_steps], STATUS_OK if len(found) == num_steps else STATUS_TRUNCATED
    elif found:
        steps, status = found + [found[-1]] * (num_steps - len(found)), STATUS_PADDED
    else:
        steps, status = [global_prompt] * num_steps, STATUS_UNPARSED
    return ParsedPlan(steps, smooth_steps(steps, joiner), FORMAT_REWARD[status], status, len(found))


def failed_plan(num_steps: int, global_prompt: str, joiner: str = " ") -> ParsedPlan:
    """The plan recorded when sampling itself failed: global-prompt fallback, format reward 0, status `failed`."""
    steps = [global_prompt] * num_steps
    return ParsedPlan(steps, smooth_steps(steps, joiner), 0.0, STATUS_FAILED, 0)
