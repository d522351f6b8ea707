"""The evaluation's conditions: the step prompts of one video by mode (global prompt, planner steps, smoothed
planner steps, ground-truth steps), its plan and its open-loop rendering, both by the policy (plotline.policy).

Noise is keyed by the subset and prompt id only, so every condition starts each prompt from the same noise and
differs only in its conditioning and weights (a paired comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from plotline.eval.benchmark import BenchmarkPrompt
from plotline.policy.planners import PlannedPrompt, PlanPrompt
from plotline.policy.render import RenderRequest, render_batches
from plotline.policy.spans import smoothed, unsmoothed

PLANNER_MODES = ("planner", "planner_smooth")
STEPS_MODES = ("steps", "steps_smooth")


@dataclass
class VideoJob:
    """One video to generate: the sample id, its benchmark prompt, and the J span prompts."""

    sample_id: str
    prompt: BenchmarkPrompt
    span_prompts: list[str]
    plan_steps: list[str] = field(default_factory=list)
    plan_status: str | None = None


def fit_steps(steps: Sequence[str], num_steps: int, fallback: str) -> list[str]:
    """Exactly J steps from ground-truth steps: each span takes the step it overlaps most in time (J > n repeats
    steps over several spans; J < n joins consecutive steps with ", then "); no steps → the global prompt."""
    steps = [s for s in steps if s and s.strip()]
    if not steps:
        return [fallback] * num_steps
    n = len(steps)
    if n >= num_steps:
        groups = [steps[j * n // num_steps : (j + 1) * n // num_steps] for j in range(num_steps)]
        return [", then ".join(g) for g in groups]
    return [steps[min(n - 1, int((j + 0.5) * n / num_steps))] for j in range(num_steps)]


def mode_steps(mode: str, prompt: BenchmarkPrompt, plan: PlannedPrompt | None) -> list[str]:
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
    return smoothed(joiner) if mode.endswith("_smooth") else unsmoothed


def span_prompts(mode: str, prompt: BenchmarkPrompt, plan: PlannedPrompt | None, joiner: str) -> list[str]:
    """The J conditioning texts of one video under `mode` (smoothed modes join s_j and s_{j+1} with `joiner`,
    the planner's `smooth_joiner`, as the plans the executor was trained on)."""
    if mode == "global":
        return mode_steps(mode, prompt, plan)
    return conditioning(mode, joiner)(mode_steps(mode, prompt, plan))


def plan_prompts(
    planner_config, adapter: str | None, prompts: Sequence[BenchmarkPrompt], seed: int, lora_seed: int = 0
) -> tuple[dict[str, PlannedPrompt], float]:
    """One plan per prompt (J = the prompt's subset geometry) by the policy's planner; returns
    `subset/prompt_id` → PlannedPrompt and the seconds spent. `planner_config` should have num_plans = 1."""
    from plotline.policy.planners import plan_prompts as policy_plans

    # keys are made unique per subset: the same prompt may appear in two subsets with different J
    return policy_plans(
        planner_config,
        adapter,
        [PlanPrompt(f"{p.subset}/{p.prompt_id}", p.prompt, p.geometry.num_steps) for p in prompts],
        seed,
        lora_seed,
    )


@dataclass
class GeneratedBatch:
    """Decoded frames (uint8 [T, H, W, 3]) of a batch of jobs and the seconds its generation took."""

    jobs: list[VideoJob]
    frames: list[np.ndarray]
    seconds: float


def render_request(job: VideoJob) -> RenderRequest:
    """The policy's open-loop render request of a job: noise key (`eval`, subset, prompt id), batched per subset
    and geometry, the job itself as payload."""
    g = job.prompt.geometry
    return RenderRequest(
        job.sample_id,
        job.span_prompts,
        ("eval", job.prompt.subset, job.prompt.prompt_id),
        g.num_frames,
        g.frames_per_step,
        (job.prompt.subset, g),
        job,
    )


def generate_videos(
    ex, jobs: Sequence[VideoJob], batch_size: int, seed: int, progress: Callable | None = None
) -> Iterator[GeneratedBatch]:
    """Render the jobs open loop in batches of one subset (one geometry: all K frames, spans of L frames, no fork)
    with plotline.policy.render; one GeneratedBatch per batch. Noise depends on (seed, subset, prompt id) only."""
    for b in render_batches(ex, [render_request(j) for j in jobs], batch_size, seed, progress):
        yield GeneratedBatch([r.payload for r in b.requests], b.frames, b.seconds)
