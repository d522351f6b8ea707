"""Rollouts from a shared context: the prefix x_{1:k} is generated once, its KV cache forked, and the N
continuations y_{k+1:K} generated as one batch. Also the slower baselines the benchmark compares against."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from plotline.executor.denoise_loop import ChunkGenerator, ChunkTrajectory
from plotline.executor.noise import ChunkNoise
from plotline.executor.prompts import frame_prompt_index


class ForkPointError(ValueError):
    """The fork/switch frame is outside the video or not on a chunk boundary."""


@dataclass
class Rollout:
    """A group of continuations sharing one prefix.

    prefix: clean prefix latents [1, C, k, h, w]; continuations: [N, C, K−k, h, w]; trajectory: the transition
    chunk's denoising record (batch N); fork_frame: k; continuation_ids: noise keys of the N continuations.
    """

    prefix: torch.Tensor
    continuations: torch.Tensor
    trajectory: ChunkTrajectory
    fork_frame: int
    continuation_ids: list

    def videos(self) -> torch.Tensor:
        """Whole latent videos [N, C, K, h, w] (prefix + each continuation)."""
        n = self.continuations.shape[0]
        return torch.cat([self.prefix.expand(n, *self.prefix.shape[1:]), self.continuations], 2)


def check_fork_frame(k: int, num_frames: int, chunk_frames: int) -> None:
    """Raise ForkPointError unless 0 < k < K and k is a multiple of the chunk size."""
    if not 0 < k < num_frames:
        raise ForkPointError(f"fork frame k={k} is outside the video (need 0 < k < K={num_frames})")
    if k % chunk_frames:
        raise ForkPointError(f"fork frame k={k} is not on a chunk boundary (chunk = {chunk_frames} frames)")


def _expand(t: torch.Tensor, n: int) -> torch.Tensor:
    return t.expand(n, *t.shape[1:])


def generate_prefix(
    gen: ChunkGenerator, contexts: list[torch.Tensor], starts: list[int], k: int, noise: ChunkNoise, key: object
):
    """Generate x_{1:k} (batch 1) and return (prefix latents, cache positioned to continue at frame k); the cache's
    buffers are sized to the k prefix frames (a fork resizes them to the video)."""
    cache = gen.new_cache(max_frames=k)
    prefix, _ = gen.run(
        cache, contexts, starts, 0, k, lambda c: noise.batch([(key, "prefix")], c, device=gen.device), commit_last=True
    )
    idx = frame_prompt_index(starts, k)
    gen.enter_span(cache, idx, contexts[idx], prefix, k)  # switch (and re-cache) once, before forking
    return prefix, cache


def continue_from(
    gen: ChunkGenerator,
    cache,
    prefix: torch.Tensor,
    contexts: list[torch.Tensor],
    starts: list[int],
    num_frames: int,
    noise: ChunkNoise,
    key: object,
    ids: list,
) -> tuple[torch.Tensor, ChunkTrajectory]:
    """Generate continuations [k, K) for the given ids as one batch from a (forked) cache."""
    n, k = len(ids), prefix.shape[2]
    ctx = [_expand(c, n) for c in contexts]
    return gen.run(
        cache,
        ctx,
        starts,
        k,
        num_frames,
        lambda c: noise.batch([(key, i) for i in ids], c, device=gen.device),
        history=_expand(prefix, n),
        record_first=True,
    )


def fork_rollout(
    gen: ChunkGenerator,
    contexts: list[torch.Tensor],
    starts: list[int],
    num_frames: int,
    k: int,
    noise: ChunkNoise,
    key: object,
    ids: list,
) -> Rollout:
    """Prefix once, fork the cache to len(ids), all continuations in one batch (the rollout stage's path)."""
    check_fork_frame(k, num_frames, gen.chunk_frames)
    prefix, cache = generate_prefix(gen, contexts, starts, k, noise, key)
    forked = cache.fork(len(ids), max_frames=num_frames)
    del cache  # the batch-1 prefix buffers are not read again: free them before the continuations run
    cont, traj = continue_from(gen, forked, prefix, contexts, starts, num_frames, noise, key, ids)
    return Rollout(prefix, cont, traj, k, list(ids))


def sequential_rollout(
    gen: ChunkGenerator, contexts, starts, num_frames: int, k: int, noise: ChunkNoise, key, ids: list
) -> Rollout:
    """Baseline: prefix once, then the continuations one after another (the reference release's way)."""
    check_fork_frame(k, num_frames, gen.chunk_frames)
    prefix, cache = generate_prefix(gen, contexts, starts, k, noise, key)
    parts = [
        continue_from(gen, cache.fork(1, max_frames=num_frames), prefix, contexts, starts, num_frames, noise, key, [i])
        for i in ids
    ]
    return _merge(prefix, parts, k, ids)


def regenerate_rollout(
    gen: ChunkGenerator, contexts, starts, num_frames: int, k: int, noise: ChunkNoise, key, ids: list
) -> Rollout:
    """Baseline: regenerate the prefix for every continuation, continuations one by one."""
    check_fork_frame(k, num_frames, gen.chunk_frames)
    prefix, parts = None, []
    for i in ids:
        prefix, cache = generate_prefix(gen, contexts, starts, k, noise, key)
        parts.append(continue_from(gen, cache, prefix, contexts, starts, num_frames, noise, key, [i]))
    return _merge(prefix, parts, k, ids)


def batched_rollout(
    gen: ChunkGenerator, contexts, starts, num_frames: int, k: int, noise: ChunkNoise, key, ids: list
) -> Rollout:
    """Baseline: the N whole videos in one batch without a fork (the prefix generated N times, as one batch, from
    the same prefix noise), so it equals the fork up to batched float rounding."""
    check_fork_frame(k, num_frames, gen.chunk_frames)
    n = len(ids)
    ctx = [_expand(c, n) for c in contexts]
    cache = gen.new_cache(max_frames=num_frames)
    prefix, _ = gen.run(
        cache, ctx, starts, 0, k, lambda c: noise.batch([(key, "prefix")] * n, c, device=gen.device), commit_last=True
    )
    idx = frame_prompt_index(starts, k)
    gen.enter_span(cache, idx, ctx[idx], prefix, k)
    cont, traj = gen.run(
        cache,
        ctx,
        starts,
        k,
        num_frames,
        lambda c: noise.batch([(key, i) for i in ids], c, device=gen.device),
        history=prefix,
        record_first=True,
    )
    return Rollout(prefix[:1], cont, traj, k, list(ids))


def _merge(prefix, parts, k, ids) -> Rollout:
    trajs = [t for _, t in parts]
    traj = ChunkTrajectory(
        torch.cat([t.states for t in trajs]),
        torch.cat([t.velocities for t in trajs]),
        torch.cat([t.logprobs for t in trajs]),
        trajs[0].sigmas,
        trajs[0].start_frame,
    )
    return Rollout(prefix, torch.cat([c for c, _ in parts]), traj, k, list(ids))
