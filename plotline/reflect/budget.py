"""The compute budget of one reflective video: critic calls, regeneration rounds and replans (limits), plus the
counters of what was spent (chunk generations included), and which limits stopped a remedy."""

from __future__ import annotations

from dataclasses import dataclass, field

LIMITS = {"max_critic_calls": "critic_calls", "max_regenerations": "regenerations", "max_replans": "replans"}
"""Budget limit name → the counter it bounds."""


@dataclass
class Budget:
    """Limits and counters of one video. `hits` lists each limit that refused something (in order, once)."""

    max_critic_calls: int
    max_regenerations: int
    max_replans: int
    critic_calls: int = 0
    regenerations: int = 0
    replans: int = 0
    chunk_generations: int = 0
    hits: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config) -> Budget:
        """A fresh budget with the limits of a ReflectConfig."""
        return cls(config.max_critic_calls, config.max_regenerations, config.max_replans)

    def left(self, limit: str) -> int:
        """How much of `limit` (a LIMITS name) is still available."""
        return max(0, getattr(self, limit) - getattr(self, LIMITS[limit]))

    def refuse(self, limit: str) -> str | None:
        """None when `limit` has room left; else records the hit and returns a reason naming the limit."""
        if self.left(limit) > 0:
            return None
        if limit not in self.hits:
            self.hits.append(limit)
        return f"budget: {limit}={getattr(self, limit)} reached"

    def counters(self) -> dict[str, int]:
        """What was spent so far."""
        return {
            "critic_calls": self.critic_calls,
            "regenerations": self.regenerations,
            "replans": self.replans,
            "chunk_generations": self.chunk_generations,
        }
