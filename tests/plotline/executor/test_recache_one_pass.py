"""LongLive's one-pass re-cache at a prompt switch against an independent forward: full masked recomputation of
the whole sequence without a cache, with the frame visibility LongLive's buffer has after `_recache_after_switch`
(global_sink) written out by hand."""

import pytest
import torch

from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.kv_cache import AttentionWindow

CHUNK = 3


def longlive_reference_mask(window: AttentionWindow, k: int) -> tuple[torch.Tensor, bool]:
    """Frame mask [k+3, k+3] of the cache after a switch at k, plus the next chunk [k, k+3); and whether the
    sink kept its old-prompt K/V. LongLive: n = min(local_attn_size, k) (k if global) recent frames re-encoded;
    during a recompute (k − n > 0) the sink slots are protected; re-encoded frames attend to each other and the
    sink without a mask; the next chunk sees sink + the last local_attn_size − sink frames."""
    size, sink = window.local_attn_size, window.sink_size
    n = k if size == -1 else min(size, k)
    r0 = k - n
    kept = r0 > 0 and sink > 0
    recached = list(range(r0 + sink if kept else r0, k))
    m = torch.eye(k + CHUNK, dtype=torch.bool)
    if kept:
        m[:sink, :CHUNK] = True  # the sink's K/V come from chunk 0's own pass (block-causal: chunk 0 only)
    for q in recached:
        for key in recached + (list(range(sink)) if kept else []):
            m[q, key] = True
    for q in range(k, k + CHUNK):
        for key in range(k + CHUNK):
            m[q, key] = size == -1 or key < sink or key >= k + CHUNK - (size - sink)
    return m, kept


@pytest.mark.parametrize(
    "window,k",
    [
        (AttentionWindow(-1, 0), 6),  # global: every frame re-encoded in one dense pass
        (AttentionWindow(12, 3), 9),  # k ≤ local_attn_size: all frames, sink re-encoded too
        (AttentionWindow(12, 3), 12),
        (AttentionWindow(12, 3), 15),  # recompute: sink kept (old prompt), frames 6..14 re-encoded
        (AttentionWindow(12, 3), 21),
        (AttentionWindow(9, 0), 15),  # window without sink
    ],
)
@torch.no_grad()
def test_one_pass_recache_equals_independent_forward(tiny_executor, prompts, window, k):
    ex = tiny_executor
    gen = ChunkGenerator(ex.model, ex.generator.sigmas, window, CHUNK, True, recache_mode="one_pass")
    ctx_a, ctx_b = ex.encode(prompts[:2])
    noise = ex.noise(21)
    cache = gen.new_cache()
    prefix, _ = gen.run(cache, [ctx_a], [0], 0, k, lambda c: noise.batch(["p"], c), commit_last=True)
    gen.enter_span(cache, 1, ctx_b, prefix, k)
    x = noise.batch(["next"], k // CHUNK)[0]
    sigma = float(gen.sigmas[1])
    got = ex.model(x, torch.full((1, CHUNK), sigma * 1000.0), ctx_b, cache=cache, start_frame=k)

    mask, kept = longlive_reference_mask(window, k)
    seq = torch.cat([prefix, x], 2)
    t = torch.cat([torch.zeros(k), torch.full((CHUNK,), sigma * 1000.0)])[None]
    per_frame = [ctx_a if (kept and f < window.sink_size) else ctx_b for f in range(k + CHUNK)]
    ctx = torch.stack([c[0] for c in per_frame], 0)[None]
    ref = ex.model(seq, t, ctx, frame_mask=mask)[:, :, k:]
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-4)


@torch.no_grad()
def test_one_pass_differs_from_chunk_by_chunk(tiny_executor, prompts):
    """Dense attention among the re-encoded frames is not the chunked (block-causal) re-commit."""
    ex = tiny_executor
    ctx_a, ctx_b = ex.encode(prompts[:2])
    noise = ex.noise(22)
    out = {}
    for mode in ("one_pass", "chunked"):
        gen = ChunkGenerator(ex.model, ex.generator.sigmas, AttentionWindow(12, 3), CHUNK, True, recache_mode=mode)
        out[mode], _ = gen.run(gen.new_cache(), [ctx_a, ctx_b], [0, 9], 0, 15, lambda c: noise.batch(["s"], c))
    torch.testing.assert_close(out["one_pass"][:, :, :9], out["chunked"][:, :, :9])
    assert float((out["one_pass"][:, :, 9:] - out["chunked"][:, :, 9:]).abs().max()) > 1e-4


def test_unknown_recache_mode_is_refused(tiny_executor):
    with pytest.raises(ValueError, match="recache_mode 'twice'"):
        ChunkGenerator(
            tiny_executor.model, tiny_executor.generator.sigmas, AttentionWindow(), CHUNK, True, recache_mode="twice"
        )


def test_window_smaller_than_a_chunk_is_refused(tiny_executor):
    with pytest.raises(ValueError, match="local_attn_size=5 leaves 2 frames"):
        ChunkGenerator(tiny_executor.model, tiny_executor.generator.sigmas, AttentionWindow(5, 3), CHUNK, True)
