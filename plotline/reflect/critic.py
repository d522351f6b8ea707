"""The critic of reflective generation: the step-following judge (any judge backend) asked whether one
generated span shows its step prompt. Every call returns a Critique with the parsed verdict, the raw reply and
a short feedback text built from the reply's weakest sub-scores and its `think` notes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plotline.rewards.frames import encode_png
from plotline.rewards.judges.base import JudgeRequest
from plotline.rewards.judges.scorer import JudgeOutcome, JudgeScorer
from plotline.rewards.prompts import step_judge_prompt

SUB_SCORES = ("action_score", "subject_score", "scene_score", "object_appearance_reasonability_score", "final_score")
"""Step-judge keys a feedback text may cite (0–10 scale)."""


@dataclass
class Critique:
    """One critic verdict on one candidate of one span: score in [0, 1] (None when unscored), parse status,
    reason, parsed fields, feedback text, raw reply, latency and whether the reply came from the cache."""

    span: int
    candidate: int
    step: str
    score: float | None
    status: str
    reason: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    feedback: str = ""
    raw: str | None = None
    latency_s: float = 0.0
    cached: bool = False

    def passes(self, threshold: float) -> bool:
        """True when the critic scored the span at or above `threshold`."""
        return self.score is not None and self.score >= threshold

    def note(self, outcome: str = "") -> str:
        """A memory line: the span, its step, the verdict, what was done and the feedback."""
        verdict = "no verdict" if self.score is None else f"{self.score:.2f}"
        text = f"span {self.span + 1} ({self.step}): {verdict}"
        return text + (f", {outcome}" if outcome else "") + (f"; {self.feedback}" if self.feedback else "")


@dataclass(frozen=True)
class SpanContext:
    """Where a segment sits: the video's global instruction, the span index (0-based) and the number of spans."""

    instruction: str
    span: int
    num_spans: int


def _short(value: Any, limit: int = 60) -> str | None:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else None


def feedback_text(fields: dict[str, Any], max_notes: int = 4) -> str:
    """The weakest sub-scores (below 7/10) and up to `max_notes` short items of the reply's `think` notes."""
    weak = sorted((fields[k], k) for k in SUB_SCORES if k in fields and fields[k] < 7.0)
    parts = [f"{k.removesuffix('_score')} {v:g}/10" for v, k in weak]
    think = fields.get("think")
    if isinstance(think, dict):
        notes = [f"{k}={s}" for k, v in think.items() if (s := _short(v)) is not None and v not in (None, [], {})]
        parts += notes[:max_notes]
    elif isinstance(think, str) and think.strip():
        parts.append(think.strip()[:160])
    return "; ".join(parts)


class Critic:
    """Builds the critic's requests (frames of a span vs its step prompt, previous step and memory as context),
    sends a batch through a JudgeScorer, and turns the outcomes into Critiques."""

    def __init__(
        self,
        scorer: JudgeScorer,
        model: str,
        num_frames: int,
        image_size: int,
        show_memory: bool = True,
        context: str = "instruction",
    ):
        self.scorer, self.model, self.num_frames = scorer, model, num_frames
        self.image_size, self.show_memory, self.context = image_size, show_memory, context

    def request(
        self,
        step: str,
        previous_step: str | None,
        frames: Sequence[np.ndarray],
        memory: Sequence[str] = (),
        where: SpanContext | None = None,
    ) -> JudgeRequest:
        """The step-judge request for one span's frames (time order). In `instruction` context (and with `where`)
        the prompt also gives the instruction and the span's position; memory notes are appended."""
        system, user = step_judge_prompt(step, previous_step, len(frames))
        meta = {"step": step, "previous_step": previous_step, "memory": list(memory)}
        if self.context == "instruction" and where is not None:
            user += (
                f"\n\nThis segment is span {where.span + 1} of {where.num_spans} of a video made for the "
                f"instruction: {where.instruction}\nThe spans show the instruction's events in order. Give low "
                "action_score and final_score when the segment does not show the part of the instruction that "
                "belongs at this point, even if it matches the caption."
            )
            meta.update(instruction=where.instruction, span=where.span, num_spans=where.num_spans)
        if self.show_memory and memory:
            user += (
                "\n\nNotes from earlier segments of the same video (for context; judge only this "
                "segment):\n" + "\n".join(f"- {m}" for m in memory)
            )
        return JudgeRequest(
            "step",
            self.model,
            system,
            user,
            images=tuple(encode_png(f, self.image_size) for f in frames),
            n_frames=len(frames),
            meta=meta,
        )

    def judge(
        self,
        span: int,
        first_candidate: int,
        steps: Sequence[str],
        previous: Sequence[str | None],
        frame_lists: Sequence[Sequence[np.ndarray]],
        memory: Sequence[str] = (),
        where: SpanContext | None = None,
    ) -> list[Critique]:
        """One Critique per candidate (numbered first_candidate, first_candidate + 1, ...): its frames against its
        own step prompt and previous step, all sent as one batch (the backend's concurrency applies)."""
        requests = [self.request(s, p, f, memory, where) for s, p, f in zip(steps, previous, frame_lists)]
        outcomes = self.scorer.score(requests)
        return [critique_of(o, span, first_candidate + i, s) for i, (o, s) in enumerate(zip(outcomes, steps))]


def critique_of(outcome: JudgeOutcome, span: int, candidate: int, step: str) -> Critique:
    """A Critique from one judge outcome (an unscored reply keeps its reason and a None score)."""
    res, resp = outcome.result, outcome.response
    fields = dict(res.fields)
    return Critique(
        span,
        candidate,
        step,
        float(res.score) if res.usable and res.score is not None else None,
        res.status,
        res.reason,
        fields,
        feedback_text(fields) if res.usable else (res.reason or ""),
        resp.raw,
        float(resp.latency_s),
        bool(resp.cached),
    )


def build_critic(config) -> Critic:
    """The critic of a PlotlineConfig: `reflect.critic` on top of `rewards` (backend, model, frame count); the
    configured programmatic provider's judges are installed for the `programmatic` backend."""
    from plotline.rewards.judges import create_backend
    from plotline.rewards.scoring import programmatic_rewards

    rc, cc = config.rewards, config.reflect.critic
    rewards = rc.model_copy(
        update={
            "judge_backend": cc.backend or rc.judge_backend,
            "models": rc.models.model_copy(update={"vision": cc.model} if cc.model else {}),
        }
    )
    programmatic_rewards(config).install()
    scorer = JudgeScorer(create_backend(rewards), rewards)
    return Critic(
        scorer,
        rewards.models.vision,
        cc.num_frames or rc.frames.step_num_frames,
        rc.frames.image_size,
        cc.show_memory,
        cc.context,
    )
