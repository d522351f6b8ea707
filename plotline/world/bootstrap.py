"""Warm start of the shapes world's tiny planner and executor (what the bootstrap stage runs; no store code).

- planner: plotline.world.planner_training.build_planner — a tiny Qwen3 base (tokenizer from the world's texts),
  full-weight SFT on noisy template plans; RL then trains a LoRA on top of it (its KL reference).
- executor: the `shapes` backbone's DiT (seeded init), flow matching on rendered world scenarios with teacher
  forcing over chunks (plotline.world.executor_training); saved as a Wan-layout state dict, the `wan` checkpoint
  format the stages load with `executor.checkpoint`.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from plotline.executor.config import ExecutorConfig
from plotline.planner.config import PlannerConfig
from plotline.progress import Progress, no_progress
from plotline.video import VideoConfig
from plotline.world.backbone import WORLD_BACKBONE, WORLD_WINDOW
from plotline.world.config import WorldConfig
from plotline.world.state_latent import FRAME_SIZE

EXECUTOR_POOL = 3000
"""Default number of rendered training videos the executor's batches are drawn from
(`world.bootstrap.executor.pool_size`)."""


class BootstrapConfigError(ValueError):
    """The configuration cannot be bootstrapped (wrong backbone, frame size or video geometry)."""


def check_config(executor: ExecutorConfig, world: WorldConfig, video: VideoConfig) -> None:
    """Raise BootstrapConfigError unless the executor is the world backbone at the world decoder's frame size."""
    if executor.backbone != WORLD_BACKBONE:
        raise BootstrapConfigError(
            f"the bootstrap stage warm-starts the shapes world's executor: set "
            f"executor.backbone={WORLD_BACKBONE} (got {executor.backbone!r})"
        )
    size = (world.frame_height, world.frame_width)
    if size != FRAME_SIZE:
        raise BootstrapConfigError(
            f"world frames are {size[0]}x{size[1]}, but the world decoder renders {FRAME_SIZE[0]}x{FRAME_SIZE[1]}"
        )
    if world.max_steps > video.num_steps:
        raise BootstrapConfigError(
            f"world.max_steps={world.max_steps} events do not fit the "
            f"J={video.num_steps} spans of the video (one event per span)"
        )


def bootstrap_planner(
    out_dir: str | Path,
    world: WorldConfig,
    video: VideoConfig,
    planner: PlannerConfig,
    seed: int,
    progress: Progress = no_progress,
) -> dict:
    """Build and SFT the world planner into `out_dir` (a transformers model folder); returns its summary.
    `progress(step, steps, loss)` after every SFT step."""
    from plotline.world.planner_training import build_planner

    return build_planner(
        out_dir,
        world,
        video.num_steps,
        world.bootstrap.planner,
        enable_thinking=planner.enable_thinking,
        seed=seed,
        progress=progress,
    )


def bootstrap_executor(
    world: WorldConfig,
    video: VideoConfig,
    executor: ExecutorConfig,
    planner: PlannerConfig,
    seed: int,
    progress: Progress = no_progress,
    pool_progress: Progress = no_progress,
) -> tuple[dict, list[float]]:
    """(DiT state dict, per-step losses) of the world executor trained by flow matching with teacher forcing
    (the denoising schedule and context timestep from `executor`, the span joiner from `planner`).
    `pool_progress(done, size)` while the training pool is rendered, `progress(step, steps, loss)` per step."""
    from plotline.executor.backbones import get_backbone
    from plotline.executor.model import CausalWanDiT
    from plotline.executor.schedule import warped_sigmas
    from plotline.world.executor_training import build_pool, train_executor
    from plotline.world.text_encoder import WorldTextEncoder

    arch = get_backbone(WORLD_BACKBONE).arch
    boot = world.bootstrap.executor
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CausalWanDiT(arch)
    encoder = WorldTextEncoder(arch.text_dim)
    pool = build_pool(
        random.Random(seed), world, video, encoder, boot.pool_size, planner.smooth_joiner, progress=pool_progress
    )
    losses = train_executor(
        model,
        pool,
        warped_sigmas(executor.denoising_steps, executor.shift),
        video,
        WORLD_WINDOW,
        boot.steps,
        boot.batch_size,
        boot.learning_rate,
        seed=seed,
        context_timestep=executor.context_timestep,
        progress=progress,
    )
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}, losses
