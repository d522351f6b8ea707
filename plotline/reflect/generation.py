"""Open-loop or reflective generation of a list of instructions with one policy (the generate stage's core; it
writes nothing itself): one plan per instruction from the planner, then one video per plan, either in one pass
or span by span with the critic (plotline.reflect.loop). Both use the same plans and, for every span's first
candidate, the same noise, so the two modes differ only by what reflection changes."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from plotline.planner.smoothing import smooth_steps
from plotline.reflect.budget import Budget
from plotline.reflect.loop import ReflectedVideo, ReflectiveGenerator, VideoSpec
from plotline.reflect.segments import chunks_in, decode, generate_span
from plotline.reflect.trail import TrailRecorder


@dataclass
class GeneratedVideo:
    """One instruction's video: its plan as sampled (steps, parse status) and the generation result."""

    instruction_id: str
    prompt: str
    plan_steps: list[str]
    plan_status: str
    result: ReflectedVideo


@dataclass
class GenerationOutput:
    """Every video, the trail rows of all of them, and a summary (counts, cost, seconds)."""

    videos: list[GeneratedVideo] = field(default_factory=list)
    trail: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def smoothed(joiner: str) -> Callable[[list[str]], list[str]]:
    """Span conditioning Smooth(s_j, s_{j+1}) with `joiner` (the planner's smoothing)."""
    return lambda steps: smooth_steps(list(steps), joiner)


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
            batch = generate_span(self.ex, self.ex.generator.new_cache(), None, self.ex.encode(texts), starts,
                                  (0, spec.num_frames), noise, [spec.noise_key], spec.num_frames)
        chunks = chunks_in((0, spec.num_frames), self.ex.generator.chunk_frames)
        budget = Budget(0, 0, 0, chunk_generations=chunks)
        trail = TrailRecorder(spec.video_id, spec.instruction_id, spec.condition, budget, chunks)
        frames = decode(self.ex, batch.latents)[0]
        seconds = time.perf_counter() - start
        trail.add("final", -1, 0, steps=spec.steps, latency_s=seconds, reason="open loop (no critic)")
        return ReflectedVideo(batch.latents, frames, list(spec.steps), texts, [None] * len(starts),
                              budget.counters(), [], seconds, trail.rows)


def generate_instructions(config, rows: Sequence[dict], *, reflect: bool, seed: int,
                          planner_adapter: Optional[str] = None, executor_adapter: Optional[str] = None,
                          lora_seed: int = 0, condition: str = "generate", progress=None) -> GenerationOutput:
    """Plan (one plan each, the run's planner and sampling settings) and generate every instruction row
    (`instruction_id`, `prompt`), open loop or with reflection under `config.reflect`; `config` is a
    PlotlineConfig whose planner base model and executor checkpoint point at local weights."""
    from plotline.eval.benchmark import BenchmarkPrompt, Geometry
    from plotline.eval.generate import plan_prompts
    from plotline.executor.executor import build_executor
    from plotline.executor.lora import load_adapter

    v = config.video
    geometry = Geometry(v.num_steps, v.latent_frames_per_step, v.target_latent_frames)
    prompts = [BenchmarkPrompt(str(r["instruction_id"]), str(r["prompt"]), str(r.get("category") or "general"),
                               condition, tuple(r.get("steps") or ()), geometry) for r in rows]
    pcfg = config.planner.model_copy(update={"num_plans": 1})
    plans, planning_s = plan_prompts(pcfg, planner_adapter, prompts, seed, lora_seed)
    ex = build_executor(config.executor, v)
    if executor_adapter:
        load_adapter(ex.model, executor_adapter, ex.backbone, trainable=False)
    if reflect:
        from plotline.reflect.critic import build_critic
        from plotline.reflect.revise import load_planner_reviser

        reviser = (load_planner_reviser(config.reflect.reviser, pcfg, planner_adapter, seed,
                                        config.reflect.revision_prompt, lora_seed)
                   if "replan" in config.reflect.remedies else None)
        generator = ReflectiveGenerator(ex, build_critic(config), config.reflect, reviser)
    else:
        generator = OpenLoopGenerator(ex)
    noise = ex.noise(seed)
    out = GenerationOutput()
    items = progress(prompts, len(prompts), "generate") if progress else prompts
    for p in items:
        plan = plans[f"{p.subset}/{p.prompt_id}"]
        spec = VideoSpec(f"{condition}/{p.prompt_id}", p.prompt_id, p.prompt, list(plan.steps),
                         smoothed(pcfg.smooth_joiner), ("generate", p.prompt_id), v.target_latent_frames,
                         v.latent_frames_per_step, condition)
        result = generator.generate(spec, noise)
        out.videos.append(GeneratedVideo(p.prompt_id, p.prompt, list(plan.steps), plan.status, result))
        out.trail += result.trail
    out.summary = cost_summary([g.result for g in out.videos])
    out.summary.update({"videos": len(out.videos), "reflect": reflect, "planning_s": planning_s})
    return out


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
