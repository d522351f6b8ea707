"""Configuration of closed-loop generation with reflection (DESIGN §7), of the critic reward, and of the
`generate` stage (`plotline generate`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from plotline._base import Section


class CriticConfig(Section):
    """The critic: the step-following judge asked about one generated span against its step prompt."""

    backend: str | None = None
    """Judge backend of the critic (`programmatic`, `openai`, `local`, ...); None: `rewards.judge_backend`."""
    model: str | None = None
    """Vision model the critic asks; None: `rewards.models.vision`."""
    num_frames: int | None = Field(None, ge=1)
    """Frames sampled evenly over the span (first and last included); None: `rewards.frames.step_num_frames`."""
    context: Literal["step", "instruction"] = "instruction"
    """What the segment is judged against: `step`, its step prompt only (the plain step-following judge);
    `instruction`, its step prompt plus the global instruction and the span's position, so a segment that shows
    its caption but not the instruction's part at that point (a planner mistake) is rejected too, and a replan
    can fix it."""
    show_memory: bool = True
    """Append the memory of earlier critiques of the same video to the critic's prompt."""


class CriticRewardConfig(Section):
    """Critic verdicts as an extra executor reward term (score stage rows of judge `critic`, advantage stage)."""

    enabled: bool = False
    """Score stage: judge every span of every continuation with the critic and write one `critic` row per
    continuation (its per-span verdicts in fields_json), next to the step / temporal / PickScore rows."""
    weight: float = 0.2
    """w_c: R_exec += w_c·R_critic in the advantage stage (only where `critic` rows exist)."""
    spans: Literal["after_switch", "all"] = "after_switch"
    """Which spans a continuation is judged on: the ones from its switch step on (where the N continuations of
    a plan differ), or every span."""
    aggregate: str = "mean"
    """How per-span verdicts become R_critic (registry in plotline.reflect.reward: `mean` score, `min` score,
    `accept_rate` = share of spans at or above `reflect.threshold`)."""


class ReflectConfig(Section):
    """Plan – act – reflect: after each span the critic scores it; below the threshold a remedy runs (best-of-K
    regeneration from the cached context, or a planner revision of the remaining steps) within the budget."""

    threshold: float = Field(0.75, ge=0.0, le=1.0)
    """A span whose critic score (R_step in [0, 1]) is below this is reflected on."""
    candidates: int = Field(3, ge=1)
    """K: fresh candidates of a span generated (as one batch from the forked cache) per regeneration round; the
    span keeps the best-scoring candidate seen."""
    remedies: list[str] = Field(default_factory=lambda: ["regenerate", "replan"])
    """The ladder of remedies for a span below the threshold (registry in plotline.reflect.remedies), each entry
    used at most once per span, in order, a blocked one skipped: `regenerate` (best of K from the cached
    context), `replan` (the planner revises the remaining steps given the critique and what was generated; the
    span is then generated again under the revised plan). Repeat an entry for more rounds; leave `replan` out
    to switch replanning off; an empty list only critiques."""
    max_regenerations: int = Field(3, ge=0)
    """Budget per video: regeneration rounds (each generates up to `candidates` span candidates)."""
    max_replans: int = Field(1, ge=0)
    """Budget per video: replan rounds (each asks the planner for up to `candidates` revised plans, sampled as one
    batch, and generates the span once under each distinct usable one)."""
    max_critic_calls: int = Field(16, ge=0)
    """Budget per video: critic calls (once spent, later spans are accepted unjudged)."""
    memory_size: int = Field(4, ge=0)
    """Critiques carried to later spans (shown to the critic and to the planner's revision); 0: no memory."""
    reviser: str = "planner"
    """Plan reviser used by `replan` (registry in plotline.reflect.revise)."""
    revision_prompt: Literal["feedback", "plain"] = "feedback"
    """`feedback`: the planner prompt plus what was shown so far and the critiques (when no revision parses, the
    plain prompt is asked once more); `plain`: the planner's own prompt (a fresh plan, for planners that were
    never trained on revision requests)."""
    critic: CriticConfig = Field(default_factory=CriticConfig)
    """Which judge critiques, and what it sees."""
    critic_reward: CriticRewardConfig = Field(default_factory=CriticRewardConfig)
    """Critic verdicts as an executor reward term in training."""

    @field_validator("remedies")
    @classmethod
    def _known_remedies(cls, value: list[str]) -> list[str]:
        from plotline.reflect.remedies import available_remedies

        unknown = [v for v in value if v not in available_remedies()]
        if unknown:
            raise ValueError(f"reflect.remedies {value}: unknown entries {unknown}; choose from {available_remedies()}")
        return value


class GenerateConfig(Section):
    """What the `generate` stage (`plotline generate`) renders: prompts, split, open loop or with reflection."""

    prompts: list[str] = Field(default_factory=list)
    """Instructions to generate; empty: the run's instructions of `split` (or the world's when none are
    committed)."""
    split: Literal["train", "eval", "all"] = "eval"
    """Split of the run's instructions used when `prompts` is empty."""
    limit: int | None = Field(None, ge=1)
    """Generate only the first `limit` instructions."""
    reflect: bool = False
    """Close the loop with the `reflect` section (else open-loop: one pass, no critic)."""
    seed: int = 0
    """Noise and planner seed (the same draws open loop and with reflection)."""
    write_videos: bool = True
    """Write every video as an mp4 into the artifact."""
