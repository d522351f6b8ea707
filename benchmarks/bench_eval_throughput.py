"""Evaluation generation throughput vs batch size at the paper's geometry (Simple: J=3, Hard: J=5, L=12 latent
frames per step) on the tiny executor (CPU). Prints videos/s and latent frames/s per batch size and checks that
batching does not change the videos (noise is keyed by prompt, not by batch position)."""

from __future__ import annotations

import time

import numpy as np
import torch

from plotline.eval.benchmark import BenchmarkPrompt, Geometry
from plotline.eval.conditions import VideoJob, generate_videos
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.video import VideoConfig


def _jobs(n: int, geometry: Geometry, subset: str) -> list[VideoJob]:
    out = []
    for i in range(n):
        p = BenchmarkPrompt(f"p{i}", f"prompt {i}", "bench", subset, (), geometry)
        out.append(VideoJob(f"c/{subset}/p{i}", p, [f"step {j} of prompt {i}" for j in range(geometry.num_steps)]))
    return out


def main(videos: int = 8, batch_sizes: tuple[int, ...] = (1, 4, 8)) -> dict:
    """Time generate_videos for each batch size on `videos` Simple and Hard prompts; print a table."""
    torch.set_num_threads(1)
    ex = build_executor(ExecutorConfig(latent_height=8, latent_width=8), VideoConfig(), device="cpu")
    results: dict = {}
    for subset, j in (("simple", 3), ("hard", 5)):
        geometry = Geometry(j, 12, 12 * j)
        reference = None
        for bs in batch_sizes:
            start = time.perf_counter()
            frames = [f for b in generate_videos(ex, _jobs(videos, geometry, subset), bs, seed=0) for f in b.frames]
            secs = time.perf_counter() - start
            if reference is None:
                reference = frames
            else:
                worst = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(frames, reference))
                assert worst <= 2, f"batch size {bs} changed the videos (max pixel difference {worst})"
            results[(subset, bs)] = {
                "seconds": secs,
                "videos_per_s": videos / secs,
                "latent_frames_per_s": videos * geometry.num_frames / secs,
            }
    print(f"tiny DiT, {videos} videos per subset, L=12, 8x8 latents, {len(ex.generator.sigmas)} denoising steps")
    print(f"{'subset':<8}{'K':>5}{'batch':>7}{'wall s':>9}{'videos/s':>10}{'lat.fr/s':>10}{'× batch 1':>11}")
    for (subset, bs), r in results.items():
        one = results[(subset, batch_sizes[0])]["seconds"]
        k = 36 if subset == "simple" else 60
        print(
            f"{subset:<8}{k:>5}{bs:>7}{r['seconds']:>9.2f}{r['videos_per_s']:>10.2f}{r['latent_frames_per_s']:>10.1f}"
            f"{one / r['seconds']:>11.2f}"
        )
    print("(batched videos equal the batch-size-1 videos up to ±2/255; checked)")
    return results


if __name__ == "__main__":
    main()
