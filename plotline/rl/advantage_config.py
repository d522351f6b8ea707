"""Advantage computation settings."""
from __future__ import annotations

from plotline._base import Section


class AdvantageConfig(Section):
    """How rewards become group-relative advantages."""

    unscored_policy: str = "drop"
    """What to do with unscored samples: drop, zero or fail."""
