"""The three judge reply schemas (DESIGN §5 JSON keys) and the result of parsing one reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["ok", "repaired", "unscored"]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    think: Any | None = None
    """The judge's optional reasoning object; kept verbatim, never scored."""


class PlanJudgeReply(_Reply):
    """Plan-quality judge reply: four floats in [0, 1] (hallucination: higher = more invented content)."""

    faithfulness_score: float = Field(ge=0.0, le=1.0)
    coverage_score: float = Field(ge=0.0, le=1.0)
    temporal_score: float = Field(ge=0.0, le=1.0)
    hallucination_score: float = Field(ge=0.0, le=1.0)


class TemporalJudgeReply(_Reply):
    """Temporal-following judge reply: one 0–10 score per sampled frame plus five 0–10 video scores."""

    frame_scores: list[float] = Field(min_length=1)
    temporal_order_score: float = Field(ge=0.0, le=10.0)
    physical_plausibility_score: float = Field(ge=0.0, le=10.0)
    visual_consistency_score: float = Field(ge=0.0, le=10.0)
    prompt_alignment_score: float = Field(ge=0.0, le=10.0)
    final_score: float = Field(ge=0.0, le=10.0)


class StepJudgeReply(_Reply):
    """Step-following judge reply: five 0–10 scores of the transition window against the new step prompt."""

    subject_score: float = Field(ge=0.0, le=10.0)
    scene_score: float = Field(ge=0.0, le=10.0)
    action_score: float = Field(ge=0.0, le=10.0)
    object_appearance_reasonability_score: float = Field(ge=0.0, le=10.0)
    final_score: float = Field(ge=0.0, le=10.0)


@dataclass(frozen=True)
class JudgeKind:
    """What one judge kind expects: its scalar keys, their scale, and whether it scores frames."""

    name: str
    model: type[_Reply]
    score_keys: tuple[str, ...]
    scale: float
    frame_key: str | None = None

    def normalise(self, value: float) -> float:
        """Map a native-scale score (0..scale) to [0, 1]."""
        return float(value) / self.scale


KINDS: dict[str, JudgeKind] = {
    "plan": JudgeKind(
        "plan", PlanJudgeReply, ("faithfulness_score", "coverage_score", "temporal_score", "hallucination_score"), 1.0
    ),
    "temporal": JudgeKind(
        "temporal",
        TemporalJudgeReply,
        (
            "temporal_order_score",
            "physical_plausibility_score",
            "visual_consistency_score",
            "prompt_alignment_score",
            "final_score",
        ),
        10.0,
        frame_key="frame_scores",
    ),
    "step": JudgeKind(
        "step",
        StepJudgeReply,
        ("subject_score", "scene_score", "action_score", "object_appearance_reasonability_score", "final_score"),
        10.0,
    ),
}


def get_kind(name: str) -> JudgeKind:
    """Look up a judge kind by name (`plan`, `temporal`, `step`), naming the choices on a miss."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown judge kind {name!r}; choose one of {sorted(KINDS)}") from None


class ParseResult(BaseModel):
    """Outcome of parsing one judge reply.

    `fields` holds the validated values on the kind's native scale (plan 0–1, video judges 0–10);
    `score` is the kind's aggregate rescaled to [0, 1] (None when unscored); `repairs` lists every fix
    that was needed, and `reason` joins them (or says why the reply is unscored)."""

    status: Status
    score: float | None = None
    reason: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    repairs: list[str] = Field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when the reply produced scores (status ok or repaired)."""
        return self.status != "unscored"
