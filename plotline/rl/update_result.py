"""What an update job returns to its stage: metric rows (the `update_metrics` table) and manifest summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UpdateResult:
    """Rows of metrics.parquet and the summary entries of the update's manifest (adapters are files)."""

    metrics: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-able dict (how a worker hands its result to the stage)."""
        return {"metrics": self.metrics, "summary": self.summary}

    @classmethod
    def from_json(cls, data: dict) -> UpdateResult:
        """Inverse of `to_json`."""
        return cls(metrics=list(data["metrics"]), summary=dict(data["summary"]))
