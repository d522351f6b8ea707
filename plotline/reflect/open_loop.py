"""Open-loop generation of one VideoSpec (no critic): the baseline the reflection loop is compared with. Its first
pass uses exactly the noise every span's first candidate uses in plotline.reflect.loop, so the two modes differ
only by what reflection changes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from plotline.reflect.budget import Budget
from plotline.reflect.loop import ReflectedVideo, VideoSpec
from plotline.reflect.segments import chunks_in, decode, generate_span
from plotline.reflect.trail import TrailRecorder


@dataclass
class OpenLoopGenerator:
    """Generates a VideoSpec in one pass (no critic): the baseline reflection is compared with. Its trail holds
    one `final` row with the cost of the pass."""

    ex: object

    def generate(self, spec: VideoSpec, noise) -> ReflectedVideo:
        """One pass over all spans from the open-loop noise of `spec`."""
        import torch

        from plotline.executor.prompts import span_starts

        start = time.perf_counter()
        starts = span_starts(spec.num_frames, spec.frames_per_step)
        texts = spec.conditioning(spec.steps)
        with torch.no_grad():
            batch = generate_span(
                self.ex,
                self.ex.generator.new_cache(),
                None,
                self.ex.encode(texts),
                starts,
                (0, spec.num_frames),
                noise,
                [spec.noise_key],
                spec.num_frames,
            )
        chunks = chunks_in((0, spec.num_frames), self.ex.generator.chunk_frames)
        budget = Budget(0, 0, 0, chunk_generations=chunks)
        trail = TrailRecorder(spec.video_id, spec.instruction_id, spec.condition, budget, chunks)
        frames = decode(self.ex, batch.latents)[0]
        seconds = time.perf_counter() - start
        trail.add("final", -1, 0, steps=spec.steps, latency_s=seconds, reason="open loop (no critic)")
        return ReflectedVideo(
            batch.latents,
            frames,
            list(spec.steps),
            texts,
            [None] * len(starts),
            budget.counters(),
            [],
            seconds,
            trail.rows,
        )


def cost_summary(results: Sequence[ReflectedVideo]) -> dict:
    """Totals over videos: chunk generations, critic calls, regenerations, replans, seconds, and how many videos
    hit a budget limit (by limit)."""
    keys = ("chunk_generations", "critic_calls", "regenerations", "replans")
    out = {k: int(sum(r.cost[k] for r in results)) for k in keys}
    out["generation_s"] = float(sum(r.seconds for r in results))
    hits: dict[str, int] = {}
    for r in results:
        for h in r.budget_hits:
            hits[h] = hits.get(h, 0) + 1
    out["budget_hits"] = hits
    return out
