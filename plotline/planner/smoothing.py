"""Prompt smoothing across span boundaries (DESIGN §3)."""
from __future__ import annotations


def smooth_steps(steps: list[str], joiner: str = " ") -> list[str]:
    """Smooth(s_j, s_{j+1}) = s_j + joiner + s_{j+1} for every span but the last; the last span keeps s_J alone."""
    if not steps:
        return []
    return [steps[j] + joiner + steps[j + 1] for j in range(len(steps) - 1)] + [steps[-1]]
