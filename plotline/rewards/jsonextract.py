"""Find and leniently decode the JSON object inside a model reply.

Real judge replies wrap their JSON in thinking blocks, Markdown fences and prose, and write it with single
quotes, trailing commas, Python literals or bare keys. `extract_json` strips the wrapping, rewrites the
object to strict JSON and reports every fix it made, so a caller can tell a clean reply from a repaired one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_THINK_BLOCK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.S | re.I)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.I)
_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.S)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


class JSONExtractError(ValueError):
    """No usable JSON object could be recovered; the message says why."""


@dataclass
class Extracted:
    """A decoded JSON value and the list of fixes needed to get it."""

    value: Any
    repairs: list[str] = field(default_factory=list)


def strip_thinking(text: str) -> str:
    """Remove `<think>…</think>` blocks; a dangling `</think>` keeps only what follows it, and an
    unclosed `<think>` drops everything after it (the model never finished thinking)."""
    text = _THINK_BLOCK.sub("", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text.strip()


def _balanced_objects(text: str) -> list[str]:
    """Every top-level `{…}` span of `text`, matching braces outside (single- or double-quoted) strings;
    an unclosed final object is returned as is (its decoding then reports the truncation)."""
    spans, depth, start, quote, escaped = [], 0, -1, None, False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'" and depth > 0:
            # an apostrophe in prose outside objects is not a string delimiter
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    if depth > 0:
        spans.append(text[start:])  # truncated tail; decoding will report it
    return spans


def to_strict_json(text: str) -> tuple[str, list[str]]:
    """Rewrite JSON-like text to strict JSON: single-quoted strings, trailing commas, Python literals
    (True/False/None) and bare keys are fixed; returns (text, fixes made)."""
    out: list[str] = []
    fixes: set[str] = set()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or ch == "'":
            quote, j, buf = ch, i + 1, []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append(nxt if (quote == "'" and nxt == "'") else text[j : j + 2])
                    j += 2
                    continue
                buf.append('\\"' if (quote == "'" and text[j] == '"') else text[j])
                j += 1
            if quote == "'":
                fixes.add("single quotes")
            out.append('"' + "".join(buf) + '"')
            i = j + 1
            continue
        if ch == ",":
            k = i + 1
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] in "}]":
                fixes.add("trailing comma")
                i += 1
                continue
        if ch.isalpha() or ch == "_":
            k = i
            while k < n and (text[k].isalnum() or text[k] == "_"):
                k += 1
            word = text[i:k]
            m = k
            while m < n and text[m].isspace():
                m += 1
            if word in _PY_LITERALS:
                out.append(_PY_LITERALS[word])
                fixes.add("python literals")
            elif m < n and text[m] == ":" and word not in ("true", "false", "null"):
                out.append(f'"{word}"')
                fixes.add("unquoted keys")
            else:
                out.append(word)
            i = k
            continue
        out.append(ch)
        i += 1
    return "".join(out), sorted(fixes)


def _decode(candidate: str) -> tuple[Any, list[str]]:
    try:
        return json.loads(candidate), []
    except json.JSONDecodeError:
        pass
    fixed, fixes = to_strict_json(candidate)
    try:
        return json.loads(fixed), fixes
    except json.JSONDecodeError as exc:
        if exc.pos >= len(fixed.rstrip()) - 1 and fixed.count("{") > fixed.count("}"):
            raise JSONExtractError("truncated JSON (object never closed)") from None
        raise JSONExtractError(f"invalid JSON ({exc.msg} at char {exc.pos})") from None


def extract_json(raw: str, expected_keys: tuple[str, ...] = ()) -> Extracted:
    """Recover the JSON object of a reply: strip thinking, prefer fenced blocks, else the object embedded
    in prose; among several candidates pick the one holding the most `expected_keys` (ties: the last)."""
    if not isinstance(raw, str) or not raw.strip():
        raise JSONExtractError("empty reply")
    text = strip_thinking(raw)
    if not text:
        raise JSONExtractError("reply holds only a thinking block, no answer")
    whole = _whole_object(text)
    if whole is not None:
        return Extracted(whole, [])
    return _extract_embedded(text, expected_keys)


def _whole_object(text: str) -> dict | None:
    """The object when `text` is exactly one strict-JSON object (no fence), else None. What the embedded search
    finds then too: outside JSON strings only braces and brackets occur, so the one top-level span is the whole
    text, decoded as is, with no repair."""
    if not (text.startswith("{") and text.endswith("}")) or "```" in text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _extract_embedded(text: str, expected_keys: tuple[str, ...]) -> Extracted:
    """extract_json's search of a reply without thinking: fenced blocks first, else the objects in the prose."""
    repairs: list[str] = []
    fences = [body for _, body in _FENCE.findall(text)]
    if fences:
        repairs.append("code fence")
        pool = [obj for body in fences for obj in _balanced_objects(body)]
    else:
        pool = _balanced_objects(text)
        if pool and not (len(pool) == 1 and text == pool[0].strip()):
            repairs.append("prose around JSON")
    if not pool:
        raise JSONExtractError("no JSON object in reply")
    best, best_hits, errors = None, -1, []
    for cand in pool:
        try:
            value, fixes = _decode(cand)
        except JSONExtractError as exc:
            errors.append(str(exc))
            continue
        if not isinstance(value, dict):
            continue
        hits = sum(1 for k in expected_keys if k in value) if expected_keys else len(value)
        if hits >= best_hits:
            best, best_hits = (value, fixes), hits
    if best is None:
        raise JSONExtractError(errors[-1] if errors else "no JSON object in reply")
    value, fixes = best
    return Extracted(value, repairs + fixes)
