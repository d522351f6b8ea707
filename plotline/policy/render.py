"""Videos from a policy: open loop in batches (evaluation's open-loop conditions), and instructions rendered one
by one open loop or with reflection (the generate stage). Nothing here writes: frames and trail rows come back.

Noise is keyed per video (`noise_key`), never by batch position, so a video is the same in any batch and every
condition starts a prompt from the same noise (a paired comparison).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from plotline.executor.config import ExecutorConfig
from plotline.planner.config import PlannerConfig
from plotline.policy.executors import open_executor
from plotline.policy.planners import PlanPrompt, open_reviser, plan_prompts
from plotline.policy.spans import smoothed
from plotline.reflect.config import ReflectConfig
from plotline.reflect.loop import ReflectedVideo, ReflectiveGenerator, VideoSpec
from plotline.reflect.open_loop import OpenLoopGenerator, cost_summary
from plotline.video import VideoConfig


@dataclass
class RenderRequest:
    """One open-loop video: its id, the J span conditioning texts, its noise key, the geometry (K frames, L per
    span) and the batching group (requests are batched only within one group; one group has one geometry).
    `payload` is the caller's own object, handed back with the frames."""

    sample_id: str
    span_prompts: list[str]
    noise_key: tuple
    num_frames: int
    frames_per_step: int
    group: Hashable
    payload: object = None


@dataclass
class RenderedBatch:
    """Decoded frames (uint8 [T, H, W, 3]) of a batch of requests and the seconds its generation took."""

    requests: list[RenderRequest]
    frames: list[np.ndarray]
    seconds: float


def batches_of(requests: Sequence[RenderRequest], batch_size: int) -> list[list[RenderRequest]]:
    """Batches of at most `batch_size` requests of one group each, groups in order of first appearance."""
    groups: dict[Hashable, list[RenderRequest]] = {}
    for r in requests:
        groups.setdefault(r.group, []).append(r)
    out = []
    for group in groups.values():
        out += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return out


def _plain(iterable: Iterable, total: int | None = None, description: str = "") -> Iterator:
    yield from iterable


def render_batches(
    ex, requests: Sequence[RenderRequest], batch_size: int, seed: int, progress: Callable | None = None
) -> Iterator[RenderedBatch]:
    """Generate the requests open loop in batches (all K frames chunk by chunk, spans of L frames, no fork) and
    decode them; one RenderedBatch per batch. The noise of a video depends on (seed, its noise key) only."""
    import torch

    from plotline.executor.prompts import span_starts
    from plotline.executor.video_io import to_uint8

    progress = progress or _plain
    batches = batches_of(requests, batch_size)
    noise = ex.noise(seed)
    for batch in progress(batches, len(batches), "generate"):
        first = batch[0]
        num_steps = len(first.span_prompts)
        start = time.perf_counter()
        texts = [t for r in batch for t in r.span_prompts]
        embs = ex.encode(texts)
        contexts = [torch.cat([embs[b * num_steps + j] for b in range(len(batch))]) for j in range(num_steps)]
        starts = span_starts(first.num_frames, first.frames_per_step)
        keys = [r.noise_key for r in batch]
        cache = ex.generator.new_cache()
        latents, _ = ex.generator.run(
            cache,
            contexts,
            starts,
            0,
            first.num_frames,
            lambda c, keys=keys, dtype=contexts[0].dtype: noise.batch(keys, c, device=ex.device).to(dtype),
        )
        if not torch.isfinite(latents).all():
            bad = [r.sample_id for b, r in enumerate(batch) if not torch.isfinite(latents[b]).all()]
            raise FloatingPointError(f"non-finite latents for {', '.join(bad)}")
        frames = to_uint8(ex.decoder(latents))
        if ex.device.type == "cuda":
            torch.cuda.synchronize(ex.device)
        yield RenderedBatch(list(batch), [frames[b] for b in range(len(batch))], time.perf_counter() - start)


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


def render_instructions(
    planner: PlannerConfig,
    executor: ExecutorConfig,
    video: VideoConfig,
    reflect_config: ReflectConfig,
    rows: Sequence[dict],
    *,
    reflect: bool,
    seed: int,
    make_critic: Callable[[], object] | None = None,
    planner_adapter: str | None = None,
    executor_adapter: str | None = None,
    lora_seed: int = 0,
    condition: str = "generate",
    progress=None,
) -> GenerationOutput:
    """Plan (one plan each, `planner`'s sampling settings) and render every instruction row (`instruction_id`,
    `prompt`) with the policy (planner base + `planner_adapter`, executor checkpoint + `executor_adapter`), open
    loop or, with `reflect`, span by span with the critic `make_critic()` builds (e.g. the run config's
    plotline.reflect.critic.build_critic) under `reflect_config`. Both modes use the same plans and, for every
    span's first candidate, the same noise."""
    pcfg = planner.model_copy(update={"num_plans": 1})
    ids = [str(r["instruction_id"]) for r in rows]
    prompts = [PlanPrompt(f"{condition}/{i}", str(r["prompt"]), video.num_steps) for i, r in zip(ids, rows)]
    plans, planning_s = plan_prompts(pcfg, planner_adapter, prompts, seed, lora_seed)
    ex = open_executor(executor, video, executor_adapter)
    if reflect:
        if make_critic is None:
            raise ValueError("reflective rendering needs a critic factory (make_critic)")
        reviser = (
            open_reviser(reflect_config, pcfg, planner_adapter, seed, lora_seed)
            if "replan" in reflect_config.remedies
            else None
        )
        generator = ReflectiveGenerator(ex, make_critic(), reflect_config, reviser)
    else:
        generator = OpenLoopGenerator(ex)
    noise = ex.noise(seed)
    out = GenerationOutput()
    items = list(zip(ids, prompts))
    for iid, p in progress(items, len(items), "generate") if progress else items:
        plan = plans[p.key]
        spec = VideoSpec(
            f"{condition}/{iid}",
            iid,
            p.prompt,
            list(plan.steps),
            smoothed(pcfg.smooth_joiner),
            ("generate", iid),
            video.target_latent_frames,
            video.latent_frames_per_step,
            condition,
        )
        result = generator.generate(spec, noise)
        out.videos.append(GeneratedVideo(iid, p.prompt, list(plan.steps), plan.status, result))
        out.trail += result.trail
    out.summary = cost_summary([g.result for g in out.videos])
    out.summary.update({"videos": len(out.videos), "reflect": reflect, "planning_s": planning_s})
    return out
