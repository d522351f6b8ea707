"""Critic verdicts per span as an executor reward term (`reflect.critic_reward`): for every continuation the
critic judges each span (from its switch step on, or all) against that span's step prompt, as during reflective
generation, and the verdicts are aggregated into R_critic, recorded as one `scores` row of judge `critic` per
continuation (per-span scores and verdicts in fields_json, every raw reply kept). The advantage stage adds
w_c·R_critic to R_exec.

Aggregations are a registry: `mean` (mean span score), `min` (worst span), `accept_rate` (share of spans at or
above `reflect.threshold`). A continuation with any unscored span is unscored (never a silent 0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from plotline.reflect.critic import Critic, SpanContext
from plotline.rewards.frames import latent_to_pixel_window, window_indices
from plotline.rewards.judges.base import JudgeRequest
from plotline.rewards.judges.scorer import JudgeOutcome
from plotline.rewards.scoring import RolloutFrames, temporal_compression

CRITIC_JUDGE = "critic"
"""Judge name of critic-reward rows in `scores`."""

Aggregate = Callable[[Sequence[float], float], float]
_AGGREGATES: dict[str, Aggregate] = {}


def register_aggregate(name: str):
    """Decorator: make `fn(span scores, threshold) -> R_critic` available as `critic_reward.aggregate: name`."""

    def deco(fn: Aggregate) -> Aggregate:
        _AGGREGATES[name] = fn
        return fn

    return deco


@register_aggregate("mean")
def _mean(scores: Sequence[float], threshold: float) -> float:
    return float(np.mean(scores))


@register_aggregate("min")
def _min(scores: Sequence[float], threshold: float) -> float:
    return float(np.min(scores))


@register_aggregate("accept_rate")
def _accept_rate(scores: Sequence[float], threshold: float) -> float:
    return float(np.mean([s >= threshold for s in scores]))


def aggregate(name: str) -> Aggregate:
    """The aggregation `name` (a KeyError names the registered ones)."""
    if name not in _AGGREGATES:
        raise KeyError(f"unknown critic-reward aggregate {name!r}; registered: {', '.join(sorted(_AGGREGATES))}")
    return _AGGREGATES[name]


def judged_spans(row: Mapping[str, Any], spans: str) -> list[int]:
    """Span indices of a rollout row the critic judges: from its switch step on (`after_switch`) or all."""
    first = int(row["switch_step"]) if spans == "after_switch" else 0
    return list(range(first, len(row["span_starts"])))


def span_window(row: Mapping[str, Any], span: int) -> tuple[int, int]:
    """Pixel-frame window [a, b) of span `span` of a rollout row's decoded video."""
    starts = [int(s) for s in row["span_starts"]]
    total_latent, total = int(row["num_latent_frames"]), int(row["num_video_frames"])
    end = starts[span + 1] if span + 1 < len(starts) else total_latent
    return latent_to_pixel_window(starts[span], end, total, temporal_compression(total, total_latent))


def span_requests(
    critic: Critic, row: Mapping[str, Any], plan: Mapping[str, Any], frames: RolloutFrames, spans: str
) -> list[tuple[int, JudgeRequest]]:
    """(span, critic request) for every judged span of one continuation: that span's frames against the plan's
    unsmoothed step of the span (previous step as context; instruction and position in `instruction` context)."""
    steps = list(plan["steps"])
    out = []
    for j in judged_spans(row, spans):
        a, b = span_window(row, j)
        picked, _ = frames.pick(window_indices(a, b, critic.num_frames))
        where = SpanContext(str(plan["prompt"]), j, len(steps))
        out.append((j, critic.request(steps[j], steps[j - 1] if j > 0 else None, picked, (), where)))
    return out


def critic_row(
    row: Mapping[str, Any], spans: Sequence[int], outcomes: Sequence[JudgeOutcome], agg: str, threshold: float
) -> dict[str, Any]:
    """The `scores` row of one continuation's critic reward (judge `critic`)."""
    scores = [o.result.score if o.result.usable else None for o in outcomes]
    unscored = [f"span {j}: {o.result.reason}" for j, o in zip(spans, outcomes) if not o.result.usable]
    fields = {
        "spans": list(spans),
        "span_scores": scores,
        "aggregate": agg,
        "threshold": threshold,
        "verdicts": [None if s is None else ("accept" if s >= threshold else "reject") for s in scores],
    }
    value = None if unscored or not scores else aggregate(agg)([s for s in scores if s is not None], threshold)
    keys = "".join(o.request.cache_key for o in outcomes)
    return {
        "score_id": f"{CRITIC_JUDGE}:{row['rollout_id']}",
        "judge": CRITIC_JUDGE,
        "instruction_id": row["instruction_id"],
        "plan_id": row["plan_id"],
        "rollout_id": row["rollout_id"],
        "status": "unscored"
        if value is None
        else ("repaired" if any(o.result.status == "repaired" for o in outcomes) else "ok"),
        "score": value,
        "reason": "; ".join(unscored) or None,
        "fields_json": json.dumps(fields),
        "raw": json.dumps([o.response.raw for o in outcomes]),
        "model": outcomes[0].request.model if outcomes else "none",
        "cache_key": hashlib.sha256(keys.encode()).hexdigest(),
        "n_frames": sum(len(o.request.images) for o in outcomes),
        "latency_s": float(sum(o.response.latency_s for o in outcomes)),
        "attempts": int(max((o.response.attempts for o in outcomes), default=0)),
        "cached": bool(outcomes) and all(o.response.cached for o in outcomes),
    }


def critic_reward_rows(
    critic: Critic, items: Sequence[tuple[Mapping, Mapping, RolloutFrames]], config
) -> list[dict[str, Any]]:
    """Critic-reward rows for (rollout row, plan row, frames) items, every span request sent as one batch;
    `config` is the ReflectConfig (critic_reward settings, threshold)."""
    cr = config.critic_reward
    aggregate(cr.aggregate)  # fail early on an unknown aggregate
    per_item = [span_requests(critic, r, p, f, cr.spans) for r, p, f in items]
    outcomes = critic.scorer.score([req for reqs in per_item for _, req in reqs])
    rows, k = [], 0
    for (r, _, _), reqs in zip(items, per_item):
        rows.append(critic_row(r, [j for j, _ in reqs], outcomes[k : k + len(reqs)], cr.aggregate, config.threshold))
        k += len(reqs)
    return rows
