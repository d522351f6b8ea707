"""Remedies for a span the critic scored below the threshold, behind a registry (`reflect.remedies` lists the
ones to try, in order). A remedy says why it cannot run now (`blocked`: a budget limit, no planner, ...) or
runs and returns the new critiqued candidates of the span.

- `regenerate`: up to K fresh candidates of the span from the cached context (one batch over the forked cache),
  each critiqued; K is capped by the critic calls left.
- `replan`: the reviser (the planner) revises the remaining steps given the critique, what was generated so far
  and the memory (up to K revisions, sampled as one batch); the span is then generated once under each distinct
  revised plan (one forked batch) and critiqued; a candidate carries its plan, so choosing it adopts that plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Remedy(Protocol):
    """One way of improving a rejected span."""

    name: str

    def blocked(self, state) -> str | None:
        """None when the remedy can run for this span state; else the reason it cannot."""
        ...

    def apply(self, state) -> list:
        """Run the remedy; returns the new (critiqued) candidates of the span."""
        ...


_REMEDIES: dict[str, Callable[[], Remedy]] = {}


def register_remedy(name: str):
    """Class decorator: make a remedy available as `reflect.remedies: [name, ...]`."""

    def deco(cls):
        _REMEDIES[name] = cls
        return cls

    return deco


def available_remedies() -> list[str]:
    """Names of the registered remedies."""
    return sorted(_REMEDIES)


def get_remedy(name: str) -> Remedy:
    """An instance of remedy `name` (a KeyError names the registered ones)."""
    if name not in _REMEDIES:
        raise KeyError(f"unknown remedy {name!r}; registered: {', '.join(available_remedies())}")
    return _REMEDIES[name]()


@register_remedy("regenerate")
class Regenerate:
    """Best of K: fresh candidates of the span from the cached context, as one forked batch."""

    name = "regenerate"

    def blocked(self, state) -> str | None:
        """Blocked by the regeneration or critic-call budget."""
        b = state.budget
        return b.refuse("max_regenerations") or b.refuse("max_critic_calls")

    def apply(self, state) -> list:
        """K (≤ critic calls left) new candidates under the best candidate's plan, noise keyed by span, round and
        index."""
        b = state.budget
        n = min(state.config.candidates, b.left("max_critic_calls"))
        b.regenerations += 1
        keys = [(state.noise_key, "reflect", state.span, state.round, i) for i in range(n)]
        return state.make_candidates([state.best().steps] * n, keys)


@register_remedy("replan")
class Replan:
    """The planner revises the remaining steps; the span is generated again under the revised plan."""

    name = "replan"

    def blocked(self, state) -> str | None:
        """Blocked without a reviser (no planner in this condition), or by the replan or critic-call budget."""
        if state.reviser is None:
            return "no planner to revise the plan with"
        b = state.budget
        return b.refuse("max_replans") or b.refuse("max_critic_calls")

    def apply(self, state) -> list:
        """Ask the reviser for up to K revised plans (K capped by the critic calls left) and generate one
        candidate of the span under each distinct usable one (none when the planner gave nothing usable)."""
        plans = state.revise(min(state.config.candidates, state.budget.left("max_critic_calls")))
        keys = [(state.noise_key, "replan", state.span, state.round, i) for i in range(len(plans))]
        return state.make_candidates(plans, keys) if plans else []
