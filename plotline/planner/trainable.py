"""Refuse a planner update that would train on nothing: no plan left with a usable sample and a kept advantage.

Committing such an update would write an adapter equal to its start with `trained_plans=0`, a silent no-op. (Kept
zero advantages, e.g. of tied groups under `zero_variance_policy: keep`, are trained on: the KL term still acts.) A role that is meant to stay untrained is left out of
`orchestration.step_stages` instead (then its update stage never runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plotline.planner.records import PlanRecord


class NothingToTrain(RuntimeError):
    """A policy update found no sample with a usable sample and a kept advantage; nothing was stepped or committed."""


def require_trainable_plans(
    records: Sequence[PlanRecord], advantages: Mapping[str, float], chosen: Sequence[PlanRecord]
) -> None:
    """Raise NothingToTrain, with the count of each reason plans were left out, when `chosen` (the plans the GSPO
    step would use) is empty; return None otherwise."""
    untrained = "remove update_planner from orchestration.step_stages to state that the planner is not trained"
    if chosen:
        return
    errored = sum(r.error is not None for r in records)
    no_tokens = sum(r.error is None and not (r.completion_token_ids and any(r.completion_mask)) for r in records)
    usable = [r for r in records if r.error is None and r.completion_token_ids and any(r.completion_mask)]
    no_advantage = sum(r.plan_id not in advantages for r in usable)
    raise NothingToTrain(
        f"planner update: no plan to train on ({len(records)} plan(s): {errored} failed to sample, {no_tokens} "
        f"without a masked-in completion token, {no_advantage} without a kept advantage (dropped by the advantage "
        f"stage: zero-variance or unscored groups); {len(advantages)} kept planner advantage(s)); refusing to "
        f"commit trained_plans=0 ({untrained})"
    )
