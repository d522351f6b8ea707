"""Generating one span's candidates from the cached context of the spans before it (the fork mechanism), and
the frames of each candidate the critic sees.

The cache positioned before a span is forked to the batch of candidates (a copy of references, not tensors); each
candidate is denoised chunk by chunk from its own noise, its chunks' K/V written into its slot of the forked cache,
and the chosen candidate's slot is selected as the context of the next span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from plotline.executor.kv_cache import KVCache
from plotline.executor.noise import ChunkNoise
from plotline.executor.video_io import to_uint8
from plotline.rewards.frames import latent_to_pixel_window, window_indices
from plotline.rewards.scoring import temporal_compression


@dataclass
class SpanBatch:
    """Candidates of one span: clean latents [B, C, b − a, h, w], the forked cache after them (batch B; the
    span's last chunk committed unless it ends the video), and each candidate's noise key."""

    latents: torch.Tensor
    cache: KVCache
    keys: list

    def take(self, index: int) -> tuple[torch.Tensor, KVCache]:
        """(latents [1, C, b − a, h, w], batch-1 cache) of candidate `index`."""
        return self.latents[index : index + 1], self.cache.select(index)


def generate_span(
    ex,
    base: KVCache,
    history: torch.Tensor | None,
    contexts: Sequence[torch.Tensor],
    starts: Sequence[int],
    span: tuple[int, int],
    noise: ChunkNoise,
    keys: list,
    num_frames: int,
) -> SpanBatch:
    """Generate frames [a, b) for len(keys) candidates as one batch from a fork of `base` (the cache after frame
    a; left unchanged). contexts: one text context per span, [1, Lt, D] (shared) or [B, Lt, D] (one per
    candidate); history: clean frames [1, C, a, h, w] before the span (None at a = 0). Noise of candidate i at
    chunk c is noise.draw(keys[i], c)."""
    a, b = span
    n = len(keys)
    gen = ex.generator
    cache = base.fork(n)
    ctx = [c.expand(n, *c.shape[1:]) if c.shape[0] == 1 else c for c in contexts]
    hist = history.expand(n, *history.shape[1:]) if history is not None else None
    dtype = ctx[0].dtype
    latents, _ = gen.run(
        cache,
        ctx,
        list(starts),
        a,
        b,
        lambda c: noise.batch(keys, c, device=gen.device).to(dtype),
        history=hist,
        commit_last=b < num_frames,
    )
    if not torch.isfinite(latents).all():
        raise FloatingPointError(f"non-finite latents in span [{a}, {b}) for noise keys {keys}")
    return SpanBatch(latents, cache, list(keys))


def chunks_in(span: tuple[int, int], chunk_frames: int) -> int:
    """Chunks generated per candidate of span [a, b)."""
    return -(-(span[1] - span[0]) // chunk_frames)


def decode(ex, latents: torch.Tensor) -> np.ndarray:
    """uint8 frames [B, T, H, W, 3] of clean latents [B, C, k, h, w]."""
    with torch.no_grad():
        return to_uint8(ex.decoder(latents))


def span_frames(
    ex, history: torch.Tensor | None, batch: SpanBatch, span: tuple[int, int], count: int
) -> list[list[np.ndarray]]:
    """Per candidate, `count` decoded frames spread over the span (first and last included), decoded together
    with the frames before it (a causal video VAE needs the history; the world decoder maps frame to frame)."""
    a, b = span
    n = batch.latents.shape[0]
    full = batch.latents if history is None else torch.cat([history.expand(n, *history.shape[1:]), batch.latents], 2)
    frames = decode(ex, full)
    total = frames.shape[1]
    pa, pb = latent_to_pixel_window(a, b, total, temporal_compression(total, b))
    idx = window_indices(pa, pb, count)
    return [[frames[i, k] for k in idx] for i in range(n)]
