"""KV-cached generation == full block-causal recomputation; fork == fresh; batched == single continuations."""

import pytest
import torch

from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.kv_cache import AttentionWindow
from plotline.executor.prompts import frame_prompt_index, span_starts
from plotline.executor.rollout import batched_rollout, fork_rollout, regenerate_rollout, sequential_rollout

ATOL = 2e-5


def reference_video(model, contexts, starts, num_frames, chunk, window, sigmas, noise_fn, recache):
    """Independent re-derivation: every denoising step recomputes the whole sequence so far without a cache,
    with a block-causal mask and per-frame prompts; clean frames at t = 0."""
    clean = None
    for s in range(0, num_frames, chunk):
        idx = frame_prompt_index(starts, s)
        noise = noise_fn(s // chunk)
        x = noise[0]
        for i in range(len(sigmas)):
            sig = float(sigmas[i])
            seq = x if clean is None else torch.cat([clean, x], 2)
            nf = seq.shape[2]
            t = torch.cat([torch.zeros(s), torch.full((nf - s,), sig * 1000.0)]).expand(x.shape[0], nf)
            ctx = torch.stack(
                [
                    contexts[idx if recache else frame_prompt_index(starts, f)][0].expand(x.shape[0], -1, -1)
                    for f in range(nf)
                ],
                1,
            )
            v = model(seq, t, ctx, chunk_frames=chunk, window=window)[:, :, s:]
            x0 = x - sig * v
            if i + 1 < len(sigmas):
                nxt = float(sigmas[i + 1])
                x = (1 - nxt) * x0 + nxt * noise[i + 1]
            else:
                x = x0
        clean = x if clean is None else torch.cat([clean, x], 2)
    return clean


def _gen(ex, window, recache):
    return ChunkGenerator(ex.model, ex.generator.sigmas, window, 3, recache)


@pytest.mark.parametrize(
    "window,recache,switch",
    [
        (AttentionWindow(9, 3), False, None),  # sink + sliding window, evictions happen
        (AttentionWindow(-1, 0), False, 6),  # global attention, prompt switches without re-cache
        (AttentionWindow(9, 3), False, 6),  # windowed + switches
        (AttentionWindow(-1, 0), True, 6),  # LongLive re-cache with a global window
    ],
)
@torch.no_grad()
def test_cached_generation_matches_full_recomputation(tiny_executor, prompts, window, recache, switch):
    ex = tiny_executor
    K = 12
    ctx = ex.encode(prompts)
    starts = span_starts(K, 3, switch) if switch else [0]
    ctx = ctx[: len(starts)]
    noise = ex.noise(7)
    fn = lambda c: noise.batch(["a", "b"], c)
    gen = _gen(ex, window, recache)
    cached, _ = gen.run(gen.new_cache(), [c.expand(2, -1, -1) for c in ctx], starts, 0, K, fn)
    ref = reference_video(ex.model, ctx, starts, K, 3, window, gen.sigmas, fn, recache)
    assert cached.shape == ref.shape == (2, 4, K, 4, 4)
    torch.testing.assert_close(cached, ref, atol=ATOL, rtol=1e-4)


@torch.no_grad()
def test_recache_changes_the_continuation(tiny_executor, prompts):
    ex = tiny_executor
    ctx = ex.encode(prompts)[:4]
    starts = span_starts(12, 3, 6)
    noise = ex.noise(3)
    fn = lambda c: noise.batch(["x"], c)
    a, _ = _gen(ex, AttentionWindow(-1, 0), True).run(
        _gen(ex, AttentionWindow(), True).new_cache(), ctx, starts, 0, 12, fn
    )
    b, _ = _gen(ex, AttentionWindow(-1, 0), False).run(
        _gen(ex, AttentionWindow(), False).new_cache(), ctx, starts, 0, 12, fn
    )
    torch.testing.assert_close(a[:, :, :3], b[:, :, :3])  # identical before the first switch
    assert (a[:, :, 3:] - b[:, :, 3:]).abs().max() > 1e-4


@torch.no_grad()
def test_fork_batched_equals_fresh_and_single(tiny_executor, prompts):
    ex = tiny_executor
    gen = ex.generator
    K, k, N = 12, 6, 3
    ctx = ex.encode(prompts)
    starts = span_starts(K, 3, k)
    noise = ex.noise(11)
    ids = list(range(N))
    batched = fork_rollout(gen, ctx, starts, K, k, noise, "plan", ids)
    assert batched.continuations.shape == (N, 4, K - k, 4, 4)
    assert batched.trajectory.states.shape == (N, 4, 4, 3, 4, 4)
    assert batched.trajectory.logprobs.shape == (N, 3)
    assert batched.trajectory.logprobs.dtype == torch.float32
    # fresh generation of continuation n from frame 0 with the same prefix/continuation noise
    for n in ids:
        fn = lambda c, n=n: noise.batch([("plan", "prefix")] if c * 3 < k else [("plan", n)], c)
        fresh, _ = gen.run(gen.new_cache(), ctx, starts, 0, K, fn)
        torch.testing.assert_close(batched.videos()[n : n + 1], fresh, atol=ATOL, rtol=1e-4)
    # N single rollouts (each its own fork)
    for n in ids:
        single = fork_rollout(gen, ctx, starts, K, k, noise, "plan", [n])
        torch.testing.assert_close(batched.continuations[n : n + 1], single.continuations, atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(
            batched.trajectory.logprobs[n : n + 1], single.trajectory.logprobs, atol=ATOL, rtol=1e-4
        )
        torch.testing.assert_close(batched.trajectory.states[n : n + 1], single.trajectory.states, atol=ATOL, rtol=1e-4)
    # the benchmark baselines produce the same rollout
    for other in (sequential_rollout, regenerate_rollout, batched_rollout):
        torch.testing.assert_close(
            other(gen, ctx, starts, K, k, noise, "plan", ids).continuations, batched.continuations, atol=ATOL, rtol=1e-4
        )


@torch.no_grad()
def test_fork_leaves_source_cache_untouched(tiny_executor, prompts):
    ex = tiny_executor
    gen = ex.generator
    ctx = ex.encode(prompts)
    from plotline.executor.rollout import generate_prefix

    prefix, cache = generate_prefix(gen, ctx, span_starts(12, 3, 6), 6, ex.noise(0), "p")
    before = {f: kv[0].clone() for f, kv in cache.frames[0].items()}
    fork = cache.fork(2)
    gen.run(
        fork,
        [c.expand(2, -1, -1) for c in ctx],
        span_starts(12, 3, 6),
        6,
        12,
        lambda c: ex.noise(0).batch([0, 1], c),
        history=prefix.expand(2, -1, -1, -1, -1),
    )
    assert sorted(cache.frames[0]) == sorted(before)
    for f, k in before.items():
        assert torch.equal(cache.frames[0][f][0], k)
