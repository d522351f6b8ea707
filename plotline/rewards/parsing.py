"""Parse a judge reply into validated scores: `ok`, `repaired` (usable after named fixes) or `unscored`.

Order of work: recover the JSON object (jsonextract), map key spellings onto the schema, coerce each
score (numbers, "7.5", "8/10", "80%"), check the range, fit the frame list to the expected count, validate
with the kind's pydantic model, then aggregate. A value outside the kind's scale by at most RANGE_TOLERANCE
of the scale (a rounding overshoot such as 10.2 on 0–10) is clamped and flagged (`repaired`); anything
further out (1000, −5, 1e12) is garbage and the reply is `unscored` with the reason ("out of range: 1000 > 10"),
never clamped into a maximal reward. Anything that cannot be recovered is `unscored` with a reason — never a
silent 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from plotline.rewards.aggregate import normalised_judge_score
from plotline.rewards.jsonextract import JSONExtractError, extract_json
from plotline.rewards.schemas import JudgeKind, ParseResult, get_kind

_FRACTION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)\s*$", re.I)
_PERCENT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*$")
_LEADING = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\b")


class ScoreError(ValueError):
    """A value that cannot be read as a score."""


def coerce_score(value: Any, scale: float) -> tuple[float, str | None]:
    """Read one score on a 0..`scale` scale; returns (value, fix) where fix names a needed repair.
    Numbers pass; strings "7.5" / "8/10" / "4 out of 5" / "80%" / "7 (good)" are converted (a fraction
    or percent is rescaled to `scale`); {"score": x} is unwrapped. Booleans, NaN and text raise ScoreError."""
    if isinstance(value, bool) or value is None:
        raise ScoreError(f"{value!r} is not a score")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ScoreError(f"{value!r} is not finite")
        return float(value), None
    if isinstance(value, Mapping) and "score" in value:
        inner, fix = coerce_score(value["score"], scale)
        return inner, fix or "score wrapped in an object"
    if isinstance(value, str):
        if m := _NUMBER.match(value):
            return float(m.group(1)), "score as string"
        if m := _FRACTION.match(value):
            den = float(m.group(2))
            if den <= 0:
                raise ScoreError(f"{value!r} has a zero denominator")
            return float(m.group(1)) / den * scale, "score as fraction string"
        if m := _PERCENT.match(value):
            return float(m.group(1)) / 100.0 * scale, "score as percent string"
        if m := _LEADING.match(value):
            return float(m.group(1)), "score string with trailing text"
    raise ScoreError(f"{value!r} is not a score")


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(key).lower()).strip("_")


def _lookup(obj: Mapping, key: str) -> tuple[bool, Any, str | None]:
    """Find `key` in obj exactly, else by a normalised spelling ("Final Score", "final") — a repair."""
    if key in obj:
        return True, obj[key], None
    wanted = {_norm_key(key), _norm_key(key).removesuffix("_score")}
    for k, v in obj.items():
        if _norm_key(k) in wanted or _norm_key(k).removesuffix("_score") in wanted:
            return True, v, f"key {k!r} read as {key!r}"
    return False, None, None


RANGE_TOLERANCE = 0.05
"""Largest overshoot of a score beyond [0, scale] that is repaired (clamped, flagged), as a fraction of the
scale: 0.5 on a 0–10 judge, 0.05 on a 0–1 judge. Larger overshoots make the reply unscored."""


def _in_range(value: float, scale: float, label: str, repairs: list[str]) -> float:
    """`value` if it lies in [0, scale]; clamped with a named repair if it overshoots by at most the tolerance;
    ScoreError ("out of range: 1000 > 10") otherwise."""
    slack = RANGE_TOLERANCE * scale
    if value < -slack:
        raise ScoreError(f"out of range: {value:g} < 0")
    if value > scale + slack:
        raise ScoreError(f"out of range: {value:g} > {scale:g}")
    if value < 0.0 or value > scale:
        clamped = min(max(value, 0.0), scale)
        repairs.append(f"{label}={value:g} clamped to {clamped:g} (within the rounding tolerance)")
        return clamped
    return value


def _frame_list(raw: Any) -> tuple[list[Any], str | None]:
    if isinstance(raw, list):
        return raw, None
    if isinstance(raw, Mapping):  # {"frame_1": 7, "frame_2": 8, ...}
        return list(raw.values()), "frame_scores given as an object"
    if isinstance(raw, str):  # "7, 8, 9"
        parts = [p for p in re.split(r"[,\s;]+", raw.strip("[] ")) if p]
        return parts, "frame_scores given as a string"
    raise ScoreError(f"frame_scores is {type(raw).__name__}, not a list")


def _parse_frames(
    kind: JudgeKind, raw: Any, n_frames: int | None, min_fraction: float, repairs: list[str]
) -> list[float]:
    items, fix = _frame_list(raw)
    if fix:
        repairs.append(fix)
    scores: list[float] = []
    for i, item in enumerate(items):
        value, fix = coerce_score(item, kind.scale)
        if fix:
            repairs.append(f"frame_scores[{i}]: {fix}")
        try:
            scores.append(_in_range(value, kind.scale, f"frame_scores[{i}]", repairs))
        except ScoreError as exc:
            raise ScoreError(f"[{i}] {exc}") from None
    if not scores:
        raise ScoreError("frame_scores is empty")
    if n_frames is not None and len(scores) != n_frames:
        if len(scores) > n_frames:
            repairs.append(f"frame_scores had {len(scores)} entries, expected {n_frames}; truncated")
            scores = scores[:n_frames]
        elif len(scores) >= math.ceil(min_fraction * n_frames):
            mean = sum(scores) / len(scores)
            repairs.append(f"frame_scores had {len(scores)} entries, expected {n_frames}; padded with their mean")
            scores = scores + [mean] * (n_frames - len(scores))
        else:
            raise ScoreError(f"frame_scores has {len(scores)} entries, expected {n_frames}")
    return scores


def _unscored(reason: str, fields: dict | None = None) -> ParseResult:
    return ParseResult(status="unscored", score=None, reason=reason, fields=fields or {})


def parse_reply(
    kind: str | JudgeKind,
    raw: Any,
    *,
    n_frames: int | None = None,
    weights: Mapping[str, float] | None = None,
    min_frame_fraction: float = 0.5,
) -> ParseResult:
    """Parse one raw judge reply of `kind` (`plan`, `temporal`, `step`).

    `n_frames` is the number of frames the temporal judge was shown (None: accept any count);
    `weights` the kind's aggregation weights (default DESIGN §5) used for the [0, 1] `score`."""
    kind = kind if isinstance(kind, JudgeKind) else get_kind(kind)
    if weights is None:
        from plotline.rewards.aggregate import kind_weights

        weights = kind_weights(kind.name)
    expected = kind.score_keys + ((kind.frame_key,) if kind.frame_key else ())
    try:
        extracted = extract_json(raw, expected)
    except JSONExtractError as exc:
        return _unscored(str(exc))
    obj, repairs = extracted.value, list(extracted.repairs)

    fields: dict[str, Any] = {}
    missing, bad = [], []
    for key in expected:
        found, value, fix = _lookup(obj, key)
        if not found:
            missing.append(key)
            continue
        if fix:
            repairs.append(fix)
        try:
            if key == kind.frame_key:
                fields[key] = _parse_frames(kind, value, n_frames, min_frame_fraction, repairs)
            else:
                score, fix = coerce_score(value, kind.scale)
                if fix:
                    repairs.append(f"{key}: {fix}")
                fields[key] = _in_range(score, kind.scale, key, repairs)
        except ScoreError as exc:
            bad.append(f"{key}: {exc}")
    found_think, think, _ = _lookup(obj, "think")
    if found_think:
        fields["think"] = think
    if missing or bad:
        problems = ([f"missing keys: {', '.join(missing)}"] if missing else []) + bad
        return _unscored("; ".join(problems), fields)
    try:
        reply = kind.model.model_validate(fields)
    except ValidationError as exc:  # defensive: coercion above should make this unreachable
        return _unscored(f"schema validation failed: {exc.errors()[0]['msg']}", fields)
    fields = reply.model_dump(exclude_none=True)
    score = normalised_judge_score(kind, fields, weights)
    status = "repaired" if repairs else "ok"
    return ParseResult(status=status, score=score, reason="; ".join(repairs) or None, fields=fields, repairs=repairs)
