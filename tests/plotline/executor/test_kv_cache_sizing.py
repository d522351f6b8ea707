"""KV buffers sized once from the frames the video holds: the allocation equals the hand-computed bytes (global:
max_frames slots; window: min(max_frames, local_attn_size) slots), nothing is reallocated while the video is
generated, and a rollout through sized caches is bitwise the one through growing caches."""

import pytest
import torch

from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout

LAYERS, T, H, D, F = 2, 2, 1, 4, 3  # layers, tokens per frame, heads, head dim, frames per chunk


def _kv(b, frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, frames * T, H, D, generator=g)


def _bytes(batch, slots):
    """Hand count: K and V, every layer, batch × slots × T tokens × H heads × D dims of fp32 (4 bytes)."""
    return LAYERS * 2 * batch * slots * T * H * D * 4


def _fill(cache, frames, batch, start=0):
    for s in range(start, frames, F):
        for layer in range(LAYERS):
            k = _kv(batch, F, seed=s + layer)
            cache.attend(layer, s, F, k, -k, write_cache=False)  # a denoising step (scratch slots)
            cache.attend(layer, s, F, k, -k, write_cache=True)  # the clean pass


@pytest.mark.parametrize(
    "window,k,total,slots",
    [
        (AttentionWindow(-1, 0), 6, 21, 21),  # Self-Forcing: the whole video
        (AttentionWindow(12, 3), 6, 21, 12),  # LongLive: the window caps it
        (AttentionWindow(12, 3), 3, 9, 9),  # a short video under a window
    ],
)
@torch.no_grad()
def test_buffers_are_allocated_once_at_the_hand_computed_size(window, k, total, slots):
    n = 4
    prefix = KVCache(LAYERS, window, max_frames=k)
    _fill(prefix, k, 1)
    assert prefix.buffer_bytes == _bytes(1, min(k, slots))
    fork = prefix.fork(n, max_frames=total)
    assert fork.buffer_bytes == _bytes(n, slots)
    ptrs = [st.k.data_ptr() for st in fork.layers]
    _fill(fork, total, n, start=k)
    assert [st.k.data_ptr() for st in fork.layers] == ptrs  # never reallocated
    assert fork.buffer_bytes == _bytes(n, slots)
    assert fork.cached_frames[-1] == total - 1


@torch.no_grad()
def test_without_max_frames_the_buffer_still_grows_and_holds_the_same_values():
    grown, sized = KVCache(LAYERS, AttentionWindow(-1, 0)), KVCache(LAYERS, AttentionWindow(-1, 0), max_frames=12)
    _fill(grown, 12, 2)
    _fill(sized, 12, 2)
    assert grown.buffer_bytes == _bytes(2, 12) and sized.buffer_bytes == _bytes(2, 12)  # 6 -> 12 slots by doubling
    for a, b in zip(grown.frames, sized.frames):
        assert a.keys() == b.keys() and all(torch.equal(a[f][0], b[f][0]) for f in a)
    with pytest.raises(ValueError, match="max_frames"):
        KVCache(1, AttentionWindow(), max_frames=0)


@torch.no_grad()
def test_fork_rollout_with_sized_caches_is_bitwise_the_growing_one(tiny_executor, prompts, monkeypatch):
    ex, K, k, n = tiny_executor, 12, 6, 3
    starts = span_starts(K, 3, k)
    ctx = ex.encode(prompts)[: len(starts)]
    sized = fork_rollout(ex.generator, ctx, starts, K, k, ex.noise(5), "p", list(range(n)))
    original_new, original_fork = ChunkGenerator.new_cache, KVCache.fork
    monkeypatch.setattr(ChunkGenerator, "new_cache", lambda self, max_frames=None: original_new(self))
    monkeypatch.setattr(KVCache, "fork", lambda self, n, max_frames=None: original_fork(self, n))
    grown = fork_rollout(ex.generator, ctx, starts, K, k, ex.noise(5), "p", list(range(n)))
    assert torch.equal(sized.continuations, grown.continuations)
    assert torch.equal(sized.trajectory.logprobs, grown.trajectory.logprobs)
    assert torch.equal(sized.trajectory.velocities, grown.trajectory.velocities)
