"""Span conditioning: the J texts the executor's spans are conditioned on, from a plan's J steps (DESIGN §3).

There is one smoother (`plotline.executor.prompts.smooth_steps`, Smooth(s_j, s_{j+1}) = s_j + joiner + s_{j+1})
and one joiner, `planner.smooth_joiner`: the one plans are parsed with, the executor is warm-started with, and
rollouts, evaluation and generation condition spans with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from plotline.executor.prompts import smooth_steps

Conditioning = Callable[[Sequence[str]], list[str]]
"""steps → the J span conditioning texts."""


def smoothed(joiner: str) -> Conditioning:
    """Conditioning by Smooth(s_j, s_{j+1}) with `joiner` (the last span keeps s_J alone)."""
    return lambda steps: smooth_steps(list(steps), joiner)


def unsmoothed(steps: Sequence[str]) -> list[str]:
    """Conditioning by the steps themselves (span j on s_j)."""
    return list(steps)


def condition_plans(plans: Sequence[dict], joiner: str, num_steps: int) -> list[dict]:
    """The plans-table rows with `smoothed_steps` holding at least J = `num_steps` span prompts: a row that
    already carries J smoothed steps is returned as is (the planner smoothed it when parsing, with the same
    joiner); otherwise its first J `steps` are smoothed with `joiner`. Rows with fewer than J steps are left for
    the executor's PlanTooShort check, which names the plan."""
    out = []
    for plan in plans:
        have = list(plan.get("smoothed_steps") or [])
        steps = list(plan.get("steps") or [])
        if len(have) >= num_steps or len(steps) < num_steps:
            out.append(plan)
        else:
            out.append({**plan, "smoothed_steps": smooth_steps(steps[:num_steps], joiner)})
    return out
