"""Evaluation videos do not depend on batching: noise is keyed by prompt, not by batch position."""

from __future__ import annotations

import numpy as np
import torch

from plotline.eval.benchmark import BenchmarkPrompt, Geometry
from plotline.eval.conditions import VideoJob, generate_videos
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.video import VideoConfig


def test_batched_generation_equals_one_by_one():
    torch.set_num_threads(1)
    ex = build_executor(
        ExecutorConfig(latent_height=4, latent_width=4),
        VideoConfig(target_latent_frames=6, latent_frames_per_step=3, switch_frames=[3]),
        device="cpu",
    )
    geometry = Geometry(2, 3, 6)
    jobs = [
        VideoJob(f"c/s/p{i}", BenchmarkPrompt(f"p{i}", f"prompt {i}", "x", "s", (), geometry), [f"a{i}", f"b{i}"])
        for i in range(3)
    ]
    batched = [f for b in generate_videos(ex, jobs, 3, seed=5) for f in b.frames]
    single = [f for b in generate_videos(ex, jobs, 1, seed=5) for f in b.frames]
    assert len(batched) == 3 and batched[0].shape == (6, 16, 16, 3) and batched[0].dtype == np.uint8
    assert max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(batched, single)) <= 2
    other_seed = [f for b in generate_videos(ex, jobs[:1], 1, seed=6) for f in b.frames]
    assert np.abs(other_seed[0].astype(int) - single[0].astype(int)).max() > 2
