"""Closed-loop generation (DESIGN §7, SPIRAL's plan – act – reflect) of one video, span by span.

For span j: generate it from the cached context of the accepted spans (candidate 0 uses exactly the noise of an
open-loop pass, so a loop that accepts everything reproduces open-loop generation), ask the critic about it,
and while the best candidate so far is below `reflect.threshold`, run the next remedy of the `reflect.remedies`
ladder that is not blocked (best-of-K regeneration from the forked cache; a planner revision of the remaining
steps).
The best-scoring candidate is kept, with the plan it was generated under; its cache slot becomes the context of
span j + 1, and a note of its critique joins the memory carried to later spans. Budget limits (critic calls,
regenerations, replans per video; each remedy of the ladder once per span) are checked before every call and
every hit is recorded.
Everything — each critic call, decision, revision, choice and the finished video — goes to the trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from plotline.executor.kv_cache import KVCache
from plotline.executor.noise import ChunkNoise
from plotline.executor.prompts import span_starts
from plotline.reflect.budget import LIMITS, Budget
from plotline.reflect.critic import Critic, Critique, SpanContext
from plotline.reflect.memory import CritiqueMemory
from plotline.reflect.remedies import get_remedy
from plotline.reflect.revise import PlanReviser, RevisionRequest
from plotline.reflect.segments import chunks_in, decode, generate_span, span_frames
from plotline.reflect.trail import TrailRecorder


@dataclass
class VideoSpec:
    """One video to generate: ids, the instruction, its J unsmoothed steps, how steps become the J span
    conditioning texts, the noise key of the open-loop draw, and the geometry (K frames, L per span)."""

    video_id: str
    instruction_id: str
    instruction: str
    steps: list[str]
    conditioning: Callable[[list[str]], list[str]]
    noise_key: object
    num_frames: int
    frames_per_step: int
    condition: str = "reflect"


@dataclass
class Candidate:
    """One generated version of a span: its latents [1, C, b − a, h, w], the batch-1 cache after it, the plan
    it was generated under and its critique (None when no critic call was left)."""

    index: int
    latents: torch.Tensor
    cache: KVCache
    steps: list[str]
    critique: Critique | None

    @property
    def score(self) -> float:
        """Critic score for ranking (−1 when unjudged or unscored)."""
        return -1.0 if self.critique is None or self.critique.score is None else self.critique.score


@dataclass
class ReflectedVideo:
    """A finished video: latents [1, C, K, h, w], uint8 frames [T, H, W, 3], the final steps, the texts each
    span was conditioned on, the chosen critic score per span (None when unjudged), the budget counters and
    limits hit, generation seconds, and the trail rows."""

    latents: torch.Tensor
    frames: np.ndarray
    steps: list[str]
    span_prompts: list[str]
    span_scores: list[float | None]
    cost: dict
    budget_hits: list[str]
    seconds: float
    trail: list[dict] = field(default_factory=list)


def _limits(reason: str) -> list[str]:
    return [name for name in LIMITS if name in reason]


class SpanState:
    """The state of one span while it is reflected on (what the remedies read and call)."""

    def __init__(self, run: _VideoRun, span: int):
        self.run, self.span, self.round, self.ladder = run, span, 0, 0
        self.candidates: list[Candidate] = []
        self.steps = list(run.steps)
        """The plan new candidates are generated under (the plan of the accepted spans)."""

    @property
    def budget(self) -> Budget:
        """The video's budget."""
        return self.run.budget

    @property
    def config(self):
        """The ReflectConfig."""
        return self.run.loop.config

    @property
    def reviser(self) -> PlanReviser | None:
        """The plan reviser (None: the condition has no planner)."""
        return self.run.loop.reviser

    @property
    def noise_key(self):
        """The video's open-loop noise key."""
        return self.run.spec.noise_key

    def best(self) -> Candidate:
        """The best-scoring candidate so far (earliest on ties)."""
        return max(self.candidates, key=lambda c: (c.score, -c.index))

    def make_candidates(self, plans: list[list[str]], keys: list) -> list[Candidate]:
        """Generate one candidate per (plan, noise key) as one forked batch and critique them."""
        return self.run.candidates(self, plans, keys)

    def revise(self, n: int) -> list[list[str]]:
        """Ask the reviser for `n` revised plans given the best candidate's critique; the distinct usable ones."""
        return self.run.revise(self, n)


class _VideoRun:
    def __init__(self, loop: ReflectiveGenerator, spec: VideoSpec, noise: ChunkNoise):
        self.loop, self.spec, self.noise = loop, spec, noise
        ex = loop.ex
        self.starts = span_starts(spec.num_frames, spec.frames_per_step)
        self.bounds = list(zip(self.starts, self.starts[1:] + [spec.num_frames]))
        base_chunks = sum(chunks_in(s, ex.generator.chunk_frames) for s in self.bounds)
        self.budget = Budget.from_config(loop.config)
        self.memory = CritiqueMemory(loop.config.memory_size)
        self.trail = TrailRecorder(spec.video_id, spec.instruction_id, spec.condition, self.budget, base_chunks)
        self.steps = list(spec.steps)
        self.cache = ex.generator.new_cache()
        self.history: torch.Tensor | None = None
        self.next_candidate = 0
        self._texts: dict[str, torch.Tensor] = {}

    def contexts(self, steps: list[str]) -> tuple[list[torch.Tensor], list[str]]:
        texts = self.spec.conditioning(steps)
        missing = [t for t in dict.fromkeys(texts) if t not in self._texts]
        if missing:
            self._texts.update(zip(missing, self.loop.ex.encode(missing)))
        return [self._texts[t] for t in texts], texts

    def candidates(self, state: SpanState, plans: list[list[str]], keys: list) -> list[Candidate]:
        ex, j = self.loop.ex, state.span
        span = self.bounds[j]
        per_plan = [self.contexts(p)[0] for p in plans]
        contexts = [
            torch.cat([c[i] for c in per_plan]) if len(set(map(tuple, plans))) > 1 else per_plan[0][i]
            for i in range(len(self.bounds))
        ]
        batch = generate_span(
            ex, self.cache, self.history, contexts, self.starts, span, self.noise, keys, self.spec.num_frames
        )
        self.budget.chunk_generations += len(keys) * chunks_in(span, ex.generator.chunk_frames)
        first = self.next_candidate
        self.next_candidate += len(keys)
        judged = min(len(keys), self.budget.left("max_critic_calls"))
        critiques: list[Critique | None] = [None] * len(keys)
        if judged:
            memory = self.memory.notes()
            frames = span_frames(ex, self.history, batch, span, self.loop.critic.num_frames)[:judged]
            where = SpanContext(self.spec.instruction, j, len(self.bounds))
            steps = [p[j] for p in plans[:judged]]
            previous = [p[j - 1] if j > 0 else None for p in plans[:judged]]
            critiques[:judged] = self.loop.critic.judge(j, first, steps, previous, frames, memory, where)
            self.budget.critic_calls += judged
            for c in critiques[:judged]:
                self.trail.critique(c, state.round, memory)
        out = []
        for i in range(len(keys)):
            latents, cache = batch.take(i)
            out.append(Candidate(first + i, latents, cache, list(plans[i]), critiques[i]))
        return out

    def revise(self, state: SpanState, n: int) -> list[list[str]]:
        best = state.best()
        self.budget.replans += 1
        critique = best.critique.note() if best.critique is not None else "no verdict"
        request = RevisionRequest(
            self.spec.video_id,
            self.spec.instruction,
            list(best.steps),
            state.span,
            critique,
            self.memory.notes(),
            attempt=self.budget.replans,
        )
        start = time.perf_counter()
        revisions = self.loop.reviser.revise(request, n)
        seconds = (time.perf_counter() - start) / max(1, len(revisions))
        plans: list[list[str]] = []
        for rev in revisions:
            self.trail.add(
                "revision",
                state.span,
                state.round,
                steps=rev.steps or best.steps,
                status=rev.status,
                reason=rev.reason,
                raw=rev.raw,
                latency_s=seconds,
                step_prompt=(rev.steps or best.steps)[state.span],
            )
            if rev.steps is not None and rev.steps not in plans:
                plans.append(list(rev.steps))
        return plans

    def decide(self, state: SpanState) -> str | None:
        """The remedy to run for the span, or None to accept its best candidate (recording the decision).
        `reflect.remedies` is a ladder: each entry is used at most once per span, in order; an entry that is
        blocked (budget, no planner) is skipped with its reason."""
        cfg, best = self.loop.config, state.best()
        blocked: list[str] = []
        if best.critique is None:
            why = self.budget.refuse("max_critic_calls") or "no critic call"
            reason, blocked = f"not judged: {why}", _limits(why)
        elif best.critique.score is None:
            reason = f"critic gave no verdict ({best.critique.reason})"
        elif best.critique.passes(cfg.threshold):
            reason = f"score {best.critique.score:.3f} ≥ threshold {cfg.threshold:g}"
        else:
            why = []
            while state.ladder < len(cfg.remedies):
                name = cfg.remedies[state.ladder]
                state.ladder += 1
                refused = get_remedy(name).blocked(state)
                if refused is None:
                    self.trail.add(
                        "decision",
                        state.span,
                        state.round,
                        decision=name,
                        candidate=best.index,
                        score=best.critique.score,
                        steps=best.steps,
                        budget=blocked,
                        reason=f"score {best.critique.score:.3f} < threshold {cfg.threshold:g}"
                        + (f"; skipped {'; '.join(why)}" if why else ""),
                    )
                    return name
                why.append(f"{name}: {refused}")
                blocked += _limits(refused)
            reason = "below threshold; " + ("; ".join(why) if why else "no remedy left for this span")
        self.trail.add(
            "decision",
            state.span,
            state.round,
            decision="accept",
            candidate=best.index,
            score=best.critique.score if best.critique else None,
            reason=reason,
            budget=blocked,
            steps=best.steps,
        )
        return None

    def span(self, j: int) -> Candidate:
        state = SpanState(self, j)
        state.candidates += self.candidates(state, [state.steps], [self.spec.noise_key])
        while (remedy := self.decide(state)) is not None:
            state.round += 1
            state.candidates += get_remedy(remedy).apply(state)
        best = state.best()
        c = best.critique
        self.trail.add(
            "choice",
            j,
            state.round,
            candidate=best.index,
            step_prompt=best.steps[j],
            score=c.score if c else None,
            status=c.status if c else None,
            steps=best.steps,
            reason=f"best of {len(state.candidates)} candidate(s)",
        )
        if c is not None:
            outcome = (
                "accepted"
                if c.passes(self.loop.config.threshold)
                else f"kept after {state.round} remedy round(s)"
                if state.round
                else "kept"
            )
            self.memory.add(c.note(outcome))
        return best

    def run(self) -> ReflectedVideo:
        start = time.perf_counter()
        texts_used, scores = [], []
        for j in range(len(self.bounds)):
            best = self.span(j)
            self.steps = list(best.steps)
            texts_used.append(self.contexts(self.steps)[1][j])
            scores.append(best.critique.score if best.critique is not None else None)
            self.cache = best.cache
            self.history = best.latents if self.history is None else torch.cat([self.history, best.latents], 2)
        frames = decode(self.loop.ex, self.history)[0]
        seconds = time.perf_counter() - start
        judged = [s for s in scores if s is not None]
        self.trail.add(
            "final",
            -1,
            0,
            steps=self.steps,
            score=float(np.mean(judged)) if judged else None,
            budget=self.budget.hits,
            latency_s=seconds,
            reason="budget limits hit: " + ", ".join(self.budget.hits) if self.budget.hits else None,
        )
        return ReflectedVideo(
            self.history,
            frames,
            self.steps,
            texts_used,
            scores,
            self.budget.counters(),
            list(self.budget.hits),
            seconds,
            self.trail.rows,
        )


class ReflectiveGenerator:
    """Generates videos with reflection: an executor, a critic, the `reflect` config and an optional plan
    reviser (None: `replan` is blocked, e.g. for conditions without a planner)."""

    def __init__(self, ex, critic: Critic, config, reviser: PlanReviser | None = None):
        self.ex, self.critic, self.config, self.reviser = ex, critic, config, reviser

    @torch.no_grad()
    def generate(self, spec: VideoSpec, noise: ChunkNoise) -> ReflectedVideo:
        """Generate one video span by span with critique, remedies and memory (see the module docstring)."""
        if len(spec.steps) != len(span_starts(spec.num_frames, spec.frames_per_step)):
            raise ValueError(
                f"video {spec.video_id}: {len(spec.steps)} steps for "
                f"{len(span_starts(spec.num_frames, spec.frames_per_step))} spans"
            )
        return _VideoRun(self, spec, noise).run()
