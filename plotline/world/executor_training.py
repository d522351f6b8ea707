"""Bootstrap of the world executor: flow matching on rendered world videos with teacher forcing over chunks.

Each example is a world scenario (training combinations only) padded with `stay` events to one event per span,
rendered over the executor's spans, encoded to latents, and conditioned span by span on Smooth(s_j, s_{j+1})
of its captions — what the rollout stage feeds the executor. A training step picks a chunk c and a noise level
σ from the sampler's schedule; the frames before c are clean at the context timestep (as the KV cache holds
them at inference), chunk c is x_σ = (1 − σ)·x0 + σ·ε, and the loss is MSE(v_θ, ε − x0) on chunk c. One
block-causal pass over frames [0, end of c) gives chunk c the same view of its history as the cache does.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from plotline.executor.kv_cache import AttentionWindow
from plotline.executor.model import CausalWanDiT
from plotline.executor.prompts import smooth_steps, span_starts
from plotline.executor.schedule import model_timestep
from plotline.progress import Progress, no_progress
from plotline.video import VideoConfig
from plotline.world.bootstrap_config import SwitchFailureConfig
from plotline.world.config import WorldConfig
from plotline.world.instructions import combinations_of, heldout_combinations
from plotline.world.plans import STAY, captions, span_bounds_from_starts
from plotline.world.scenario import InfeasibleScenario, place, sample_scenario
from plotline.world.state import Geometry, ObjectState, Scenario
from plotline.world.state_latent import encode_frames
from plotline.world.switch_failures import (
    SwitchVideo,
    apply_switch_failure,
    draw_frame_states,
    in_frame,
    span_frame_states,
)
from plotline.world.text_encoder import WorldTextEncoder


@dataclass
class ExecutorExample:
    """One training video: uint8 frames [K, H, W, 3], its latents [C, K, h, w], span starts, span prompts and the
    switch failure planted in it ("clean" when none)."""

    frames: np.ndarray
    latents: torch.Tensor
    starts: list[int]
    prompts: list[str]
    failure: str = "clean"


def example(
    rng: random.Random,
    world: WorldConfig,
    video: VideoConfig,
    joiner: str = " ",
    heldout: frozenset | None = None,
    stay_anywhere: float = 0.2,
    failures: SwitchFailureConfig | None = None,
) -> ExecutorExample:
    """A random training example: a world scenario with 1..J events (never a held-out combination), `stay`
    filling spare spans (each at a random position with probability `stay_anywhere`, else at the end), spans
    from a drawn switch frame.

    The object starts at the canonical placement of the events the first span's prompt names (the middle of
    their feasible size and position ranges; scenarios whose later events would then leave the frame are
    redrawn): the first chunk is then a function of its prompt, which a tiny model learns as fast as the
    later chunks (which copy their history), instead of a distribution over starting positions it must keep
    consistent across the chunk's frames. The judges measure changes, not absolute positions.

    With a drawn switch frame k, the span starting at k may then show a switch failure (plotline.world.switch_failures;
    `failures`, default world.bootstrap.executor.switch_failures) while its caption stays the clean one."""
    num_spans = video.num_steps
    heldout = heldout_combinations(world) if heldout is None else heldout
    geometry = Geometry.from_config(world)
    while True:
        n = rng.randint(world.min_steps, min(world.max_steps, num_spans))
        scenario = sample_scenario(rng, world, n)
        if combinations_of(scenario) & heldout:
            continue
        events = list(scenario.events)
        for _ in range(num_spans - n):
            events.insert(rng.randint(0, len(events)) if rng.random() < stay_anywhere else len(events), STAY)
        states = canonical_states(scenario.initial, events, geometry, known=min(2, num_spans))
        if states is not None:
            break
    k = rng.choice(video.switch_frames) if video.switch_frames and num_spans > 1 else None
    starts = span_starts(video.target_latent_frames, video.latent_frames_per_step, k)
    bounds = span_bounds_from_starts(starts, video.target_latent_frames)
    per_frame = span_frame_states(states, bounds, world.hold_fraction)
    failure = "clean"
    if k is not None:
        failures = world.bootstrap.executor.switch_failures if failures is None else failures
        video_ = SwitchVideo(states, events, bounds, starts.index(k), geometry, world.hold_fraction)
        per_frame, failure = apply_switch_failure(video_, per_frame, failures, rng)
    frames = draw_frame_states(per_frame, geometry.height, geometry.width)
    latents = encode_frames(per_frame, (geometry.height, geometry.width))
    prompts = smooth_steps(captions(scenario.initial, events), joiner)
    return ExecutorExample(frames, latents, starts, prompts, failure)


def canonical_states(
    initial: ObjectState, events: list[str], geometry: Geometry, known: int
) -> list[ObjectState] | None:
    """States S_0..S_J from the canonical placement of the first `known` events (None when that placement is
    infeasible or a later event leaves the frame or the size limits)."""
    try:
        placed = place(tuple(events[:known]), initial.shape, initial.colour, initial.visible, geometry)
    except InfeasibleScenario:
        return None
    states = Scenario(placed.initial, tuple(events)).states(geometry)
    return states if in_frame(states, geometry) else None


def frame_contexts(encoder: WorldTextEncoder, prompts: list[str], starts: list[int], num_frames: int) -> torch.Tensor:
    """Per-frame text features [F, Lt, D]: frame f gets the prompt of its span."""
    feats = encoder(prompts)
    span = [max(i for i, s in enumerate(starts) if s <= f) for f in range(num_frames)]
    return feats[span]


def teacher_forced_loss(
    model: CausalWanDiT,
    latents: torch.Tensor,
    contexts: torch.Tensor,
    chunk: int,
    chunk_frames: int,
    sigma: float,
    window: AttentionWindow,
    context_timestep: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Flow-matching MSE on chunk `chunk` of clean latents [B, C, K, h, w] given clean history (module docstring);
    contexts [B, K, Lt, D] per frame."""
    s, e = chunk * chunk_frames, min((chunk + 1) * chunk_frames, latents.shape[2])
    x0 = latents[:, :, :e]
    eps = torch.randn(x0[:, :, s:e].shape, generator=generator)
    x = x0.clone()
    x[:, :, s:e] = (1.0 - sigma) * x0[:, :, s:e] + sigma * eps
    b = x.shape[0]
    t = torch.full((b, e), float(context_timestep), dtype=torch.float32)
    t[:, s:e] = float(model_timestep(sigma))
    v = model(x, t, contexts[:, :e], chunk_frames=chunk_frames, window=window)
    return torch.mean((v[:, :, s:e].float() - (eps - x0[:, :, s:e])) ** 2)


@dataclass
class ExecutorPool:
    """Training examples stacked for batching: latents [N, C, K, h, w], per-frame text features [N, K, Lt, D] and
    how many examples show each switch failure ("clean" included)."""

    latents: torch.Tensor
    contexts: torch.Tensor
    failures: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.latents.shape[0])


def build_pool(
    rng: random.Random,
    world: WorldConfig,
    video: VideoConfig,
    encoder: WorldTextEncoder,
    size: int,
    joiner: str = " ",
    progress: Progress = no_progress,
) -> ExecutorPool:
    """`size` random examples (see `example`; switch failures from world.bootstrap.executor), encoded once;
    `progress(done, size)` after each."""
    heldout = heldout_combinations(world)
    lat, ctx = [], []
    failures: Counter[str] = Counter()
    for i in range(size):
        ex = example(rng, world, video, joiner, heldout)
        lat.append(ex.latents)
        ctx.append(frame_contexts(encoder, ex.prompts, ex.starts, ex.latents.shape[1]))
        failures[ex.failure] += 1
        progress(i + 1, size)
    return ExecutorPool(torch.stack(lat), torch.stack(ctx), dict(failures))


def train_executor(
    model: CausalWanDiT,
    pool: ExecutorPool,
    sigmas: torch.Tensor,
    video: VideoConfig,
    window: AttentionWindow,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    context_timestep: float = 0.0,
    progress: Progress = no_progress,
) -> list[float]:
    """AdamW (cosine-decayed lr, every parameter of `model`) on teacher-forced flow matching over random
    batches of `pool`; each step draws one chunk and one noise level of the sampler's schedule. Returns the loss
    of every step (also reported as `progress(step, steps, loss)`)."""
    gen = torch.Generator().manual_seed(seed)
    pick = random.Random(seed)
    chunks = -(-video.target_latent_frames // video.frames_per_chunk)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + np.cos(np.pi * min(i, steps) / steps)))
    model.train().requires_grad_(True)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(pool), (min(batch_size, len(pool)),), generator=gen)
        loss = teacher_forced_loss(
            model,
            pool.latents[idx],
            pool.contexts[idx],
            pick.randrange(chunks),
            video.frames_per_chunk,
            float(sigmas[pick.randrange(len(sigmas))]),
            window,
            context_timestep,
            gen,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        progress(len(losses), steps, losses[-1])
    model.eval().requires_grad_(False)
    return losses
