"""Generating one video per benchmark prompt under a condition: step prompts by mode (global prompt, planner
steps, smoothed planner steps, ground-truth steps), then batched chunk-by-chunk generation from a fixed seed.

Noise is keyed by the prompt id only, so every condition starts each prompt from the same noise and differs only
in its conditioning and weights (a paired comparison).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from plotline.eval.benchmark import BenchmarkPrompt, Geometry
from plotline.planner.smoothing import smooth_steps

PLANNER_MODES = ("planner", "planner_smooth")
STEPS_MODES = ("steps", "steps_smooth")


@dataclass
class PlannedPrompt:
    """The planner's output for one benchmark prompt."""

    steps: list[str]
    status: str
    adapter_version: str


@dataclass
class VideoJob:
    """One video to generate: the sample id, its benchmark prompt, and the J span prompts."""

    sample_id: str
    prompt: BenchmarkPrompt
    span_prompts: list[str]
    plan_steps: list[str] = field(default_factory=list)
    plan_status: Optional[str] = None


def fit_steps(steps: Sequence[str], num_steps: int, fallback: str) -> list[str]:
    """Exactly J steps from ground-truth steps: each span takes the step it overlaps most in time (J > n repeats
    steps over several spans; J < n joins consecutive steps with ", then "); no steps → the global prompt."""
    steps = [s for s in steps if s and s.strip()]
    if not steps:
        return [fallback] * num_steps
    n = len(steps)
    if n >= num_steps:
        groups = [steps[j * n // num_steps:(j + 1) * n // num_steps] for j in range(num_steps)]
        return [", then ".join(g) for g in groups]
    return [steps[min(n - 1, int((j + 0.5) * n / num_steps))] for j in range(num_steps)]


def mode_steps(mode: str, prompt: BenchmarkPrompt, plan: Optional[PlannedPrompt]) -> list[str]:
    """The J unsmoothed steps of one video under `mode`: the global prompt J times, the planner's steps, or the
    benchmark's ground-truth steps fitted to J."""
    J = prompt.geometry.num_steps
    if mode == "global":
        return [prompt.prompt] * J
    if mode in PLANNER_MODES:
        if plan is None:
            raise ValueError(f"mode {mode!r} needs a plan for prompt {prompt.prompt_id!r}")
        return list(plan.steps)
    if mode in STEPS_MODES:
        return fit_steps(prompt.steps, J, prompt.prompt)
    raise ValueError(f"unknown mode {mode!r}")


def conditioning(mode: str, joiner: str):
    """steps → the J conditioning texts under `mode` (smoothed modes join s_j and s_{j+1} with `joiner`)."""
    if mode.endswith("_smooth"):
        return lambda steps: smooth_steps(list(steps), joiner)
    return lambda steps: list(steps)


def span_prompts(mode: str, prompt: BenchmarkPrompt, plan: Optional[PlannedPrompt], joiner: str) -> list[str]:
    """The J conditioning texts of one video under `mode` (smoothed modes join s_j and s_{j+1} with `joiner`,
    the planner's `smooth_joiner`, as the plans the executor was trained on)."""
    if mode == "global":
        return mode_steps(mode, prompt, plan)
    return conditioning(mode, joiner)(mode_steps(mode, prompt, plan))


def plan_prompts(planner_config, adapter: Optional[str], prompts: Sequence[BenchmarkPrompt], seed: int,
                 lora_seed: int = 0) -> tuple[dict[str, PlannedPrompt], float]:
    """One plan per prompt (J = the prompt's subset geometry) with the configured backend; returns
    prompt_id → PlannedPrompt and the seconds spent. `planner_config` should have num_plans = 1."""
    from plotline.planner.backends import BackendContext, make_backend
    from plotline.planner.model import adapter_version, load_planner_from_config, load_tokenizer
    from plotline.planner.sampling import Instruction, sample_plans

    start = time.perf_counter()
    cfg = planner_config
    if cfg.backend == "local":
        planner = load_planner_from_config(cfg, adapter, trainable=False, seed=lora_seed)
        tokenizer, version, context = planner.tokenizer, planner.adapter_version, planner.context_length
    else:
        from transformers import AutoConfig

        planner, tokenizer, version = None, load_tokenizer(cfg.base_model), adapter_version(adapter)
        context = getattr(AutoConfig.from_pretrained(cfg.base_model), "max_position_embeddings", None)
    backend = make_backend(cfg.backend, BackendContext(cfg, tokenizer, version, planner=planner, adapter_path=adapter))
    out: dict[str, PlannedPrompt] = {}
    by_steps: dict[int, list[BenchmarkPrompt]] = {}
    for p in prompts:
        by_steps.setdefault(p.geometry.num_steps, []).append(p)
    for num_steps, group in sorted(by_steps.items()):
        # ids are made unique per subset: the same prompt may appear in two subsets with different J
        instructions = [Instruction(f"{p.subset}/{p.prompt_id}", p.prompt, "eval") for p in group]
        for p, rec in zip(group, sample_plans(backend, tokenizer, instructions, cfg, num_steps, seed, context)):
            out[f"{p.subset}/{p.prompt_id}"] = PlannedPrompt(list(rec.steps), rec.parse_status, rec.adapter_version)
    return out, time.perf_counter() - start


@dataclass
class GeneratedBatch:
    """Decoded frames (uint8 [T, H, W, 3]) of a batch of jobs and the seconds its generation took."""

    jobs: list[VideoJob]
    frames: list[np.ndarray]
    seconds: float


def _batches(jobs: Sequence[VideoJob], batch_size: int) -> list[list[VideoJob]]:
    groups: dict[tuple[str, Geometry], list[VideoJob]] = {}
    for job in jobs:
        groups.setdefault((job.prompt.subset, job.prompt.geometry), []).append(job)
    out = []
    for group in groups.values():
        out += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    return out


def _plain(iterable: Iterable, total: Optional[int] = None, description: str = "") -> Iterator:
    yield from iterable


def generate_videos(ex, jobs: Sequence[VideoJob], batch_size: int, seed: int,
                    progress: Optional[Callable] = None) -> Iterator[GeneratedBatch]:
    """Generate the jobs in batches of one subset (one geometry: all K frames, spans of L frames, no fork) and
    decode them; yields one GeneratedBatch per batch. Noise depends on (seed, subset, prompt id) only."""
    import torch

    from plotline.executor.prompts import span_starts
    from plotline.executor.video_io import to_uint8

    progress = progress or _plain
    batches = _batches(jobs, batch_size)
    noise = ex.noise(seed)
    for batch in progress(batches, len(batches), "generate"):
        g = batch[0].prompt.geometry
        start = time.perf_counter()
        texts = [t for job in batch for t in job.span_prompts]
        embs = ex.encode(texts)
        contexts = [torch.cat([embs[b * g.num_steps + j] for b in range(len(batch))]) for j in range(g.num_steps)]
        starts = span_starts(g.num_frames, g.frames_per_step)
        keys = [("eval", job.prompt.subset, job.prompt.prompt_id) for job in batch]
        cache = ex.generator.new_cache()

        def chunk_noise(c):
            return noise.batch(keys, c, device=ex.device).to(contexts[0].dtype)  # noqa: B023 - run() calls it below

        latents, _ = ex.generator.run(cache, contexts, starts, 0, g.num_frames, chunk_noise)
        if not torch.isfinite(latents).all():
            bad = [job.sample_id for b, job in enumerate(batch) if not torch.isfinite(latents[b]).all()]
            raise FloatingPointError(f"non-finite latents for {', '.join(bad)}")
        frames = to_uint8(ex.decoder(latents))
        if ex.device.type == "cuda":
            torch.cuda.synchronize(ex.device)
        yield GeneratedBatch(list(batch), [frames[b] for b in range(len(batch))], time.perf_counter() - start)
