"""The in-place KV cache gives bitwise the outputs of the concatenating cache it replaced (kept verbatim in
legacy_kv_cache.py) for generation, fork rollouts, both re-cache modes and the Flow-GRPO recomputation; and it
really works in place: reads are views of one buffer, a fork never writes into its source, copies on write."""

import pytest
import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.executor import build_executor
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.lora import attach_lora
from plotline.executor.model import CausalWanDiT
from plotline.executor.noise import ChunkNoise
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout, sequential_rollout
from plotline.executor.schedule import warped_sigmas
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer, TransitionGroup
from plotline.video import VideoConfig
from plotline.world.backbone import WORLD_ARCH, WORLD_WINDOW
from tests.plotline.executor.legacy_kv_cache import LegacyKVCache

K = 12


def _legacy(monkeypatch):
    monkeypatch.setattr(
        ChunkGenerator,
        "new_cache",
        lambda self, max_frames=None: LegacyKVCache(self.model.arch.num_layers, self.window),
    )


def _equal_rollouts(a, b):
    assert torch.equal(a.prefix, b.prefix)
    assert torch.equal(a.continuations, b.continuations)
    for name in ("states", "velocities", "logprobs"):
        assert torch.equal(getattr(a.trajectory, name), getattr(b.trajectory, name)), name


@pytest.mark.parametrize(
    "window,recache,mode,switch",
    [
        (AttentionWindow(9, 3), False, "chunked", None),  # sink + window, evictions compact the buffer
        (AttentionWindow(12, 3), True, "chunked", 6),  # the tiny backbone's LongLive setting
        (AttentionWindow(12, 3), True, "one_pass", 9),  # one-pass re-cache keeping the sink
        (AttentionWindow(-1, 0), True, "one_pass", 6),  # global, one-pass re-cache
        (AttentionWindow(-1, 0), False, "chunked", 6),  # global, switch without re-cache
    ],
)
@torch.no_grad()
def test_generation_is_bitwise_the_concatenating_cache(tiny_executor, prompts, window, recache, mode, switch):
    ex = tiny_executor
    starts = span_starts(K, 3, switch) if switch else [0]
    ctx = [c.expand(2, -1, -1) for c in ex.encode(prompts)[: len(starts)]]
    noise = ex.noise(3)
    fn = lambda c: noise.batch(["a", "b"], c)
    gen = ChunkGenerator(ex.model, ex.generator.sigmas, window, 3, recache, recache_mode=mode)
    new_cache = gen.new_cache()
    new, _ = gen.run(new_cache, ctx, starts, 0, K, fn, commit_last=True)
    old_cache = LegacyKVCache(ex.model.arch.num_layers, window)
    old, _ = gen.run(old_cache, ctx, starts, 0, K, fn, commit_last=True)
    assert isinstance(new_cache, KVCache)
    assert torch.equal(new, old)
    assert new_cache.cached_frames == old_cache.cached_frames
    for layer_new, layer_old in zip(new_cache.frames, old_cache.frames):
        for f in layer_old:
            assert torch.equal(layer_new[f][0], layer_old[f][0]) and torch.equal(layer_new[f][1], layer_old[f][1])


@pytest.mark.parametrize("dtype,k", [("float32", 6), ("bfloat16", 3)])
@torch.no_grad()
def test_fork_and_sequential_rollouts_are_bitwise_the_concatenating_cache(monkeypatch, prompts, dtype, k):
    ex = build_executor(
        ExecutorConfig(backbone="tiny", latent_height=4, latent_width=4, dtype=dtype),
        VideoConfig(target_latent_frames=9, latent_frames_per_step=3, switch_frames=[3, 6]),
        device="cpu",
    )
    ctx = ex.encode(prompts[:3])
    starts = span_starts(9, 3, k)[:]
    ids = [0, 1, 2]
    new_fork = fork_rollout(ex.generator, ctx[: len(starts)], starts, 9, k, ex.noise(5), "p", ids)
    new_seq = sequential_rollout(ex.generator, ctx[: len(starts)], starts, 9, k, ex.noise(5), "p", ids)
    _legacy(monkeypatch)
    old_fork = fork_rollout(ex.generator, ctx[: len(starts)], starts, 9, k, ex.noise(5), "p", ids)
    old_seq = sequential_rollout(ex.generator, ctx[: len(starts)], starts, 9, k, ex.noise(5), "p", ids)
    _equal_rollouts(new_fork, old_fork)
    _equal_rollouts(new_seq, old_seq)


@torch.no_grad()
def test_shapes_world_dit_rollout_is_bitwise_the_concatenating_cache(monkeypatch):
    """The `shapes` backbone's DiT (one token per frame, global attention), randomly initialised."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = CausalWanDiT(WORLD_ARCH).eval()
        ctx = [torch.randn(1, WORLD_ARCH.text_len, WORLD_ARCH.text_dim) for _ in range(3)]
    gen = ChunkGenerator(model, warped_sigmas([1000, 750, 500, 250], 1.0).float(), WORLD_WINDOW, 3, False)
    noise = ChunkNoise(4, (WORLD_ARCH.in_dim, 3, 1, 1), 4)
    run = lambda: fork_rollout(gen, ctx, [0, 3, 6], 9, 3, noise, "p", [0, 1])
    new = run()
    _legacy(monkeypatch)
    _equal_rollouts(new, run())


def test_flow_grpo_recomputation_and_gradients_are_bitwise_the_concatenating_cache(monkeypatch, prompts):
    torch.manual_seed(0)
    ex = build_executor(
        ExecutorConfig(latent_height=4, latent_width=4),
        VideoConfig(target_latent_frames=9, latent_frames_per_step=3, switch_frames=[6]),
        device="cpu",
    )
    cfg = FlowGRPOConfig(lora_rank=4, lora_alpha=4, beta=0.01)
    peft = attach_lora(ex.model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets)
    tr = FlowGRPOTrainer(peft, ex.generator, cfg)
    with torch.no_grad():
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))
    starts = span_starts(9, 3, 6)
    ctx = ex.encode(prompts[: len(starts)])
    ids = list(range(4))
    r = fork_rollout(ex.generator, ctx, starts, 9, 6, ex.noise(2), "p", ids)
    t = r.trajectory
    g = TransitionGroup(
        [f"s{i}" for i in ids],
        r.prefix,
        ctx,
        starts,
        t.states,
        t.velocities,
        t.logprobs,
        t.sigmas,
        torch.tensor([1.0, -1.0, 0.5, -0.5]),
    )

    def terms_and_grads():
        terms = tr.group_terms(g, with_grad=True)
        loss = (terms["ratio"] * torch.arange(1.0, 4.0)).sum() + terms["kl"].sum()
        return terms, torch.autograd.grad(loss, tr.params, allow_unused=True)

    new_terms, new_grads = terms_and_grads()
    _legacy(monkeypatch)
    old_terms, old_grads = terms_and_grads()
    for name in ("ratio", "kl", "logp"):
        assert torch.equal(new_terms[name], old_terms[name]), name
    assert float(new_terms["kl"].detach().abs().max()) > 0
    assert sum(a is not None for a in new_grads) > 0
    for a, b in zip(new_grads, old_grads):
        assert (a is None and b is None) or torch.equal(a, b)


# ----- the cache really works in place ---------------------------------------------------------------------
def _kv(b, frames, tokens=2, heads=1, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, frames * tokens, heads, d, generator=g)


@torch.no_grad()
def test_reads_are_views_of_one_buffer_and_a_forward_moves_only_its_chunk():
    cache = KVCache(1, AttentionWindow(-1, 0))
    for s in (0, 3, 6):
        k = _kv(2, 3, seed=s)
        cache.attend(0, s, 3, k, -k, write_cache=True)
    buf = cache.layers[0].k
    assert cache.layers[0].capacity == 12  # grown by doubling: 6, then 12 frame slots
    before = cache.bytes_copied
    q = _kv(2, 3, seed=9)
    keys, values = cache.attend(0, 9, 3, q, -q, write_cache=False)  # a denoising step of chunk [9, 12)
    assert keys.untyped_storage().data_ptr() == buf.untyped_storage().data_ptr()  # a view, not a copy
    assert keys.shape == (2, 24, 1, 4)
    assert torch.equal(keys, torch.cat([_kv(2, 3, seed=0), _kv(2, 3, seed=3), _kv(2, 3, seed=6), q], 1))
    assert torch.equal(values, -keys)
    assert cache.bytes_copied - before == 2 * q.numel() * q.element_size()  # only the chunk's own K/V
    assert cache.cached_frames == list(range(9))  # a denoising step commits nothing


@torch.no_grad()
def test_window_eviction_compacts_in_place_keeping_the_sink_first():
    window = AttentionWindow(local_attn_size=6, sink_size=1)
    cache, ref = KVCache(1, window), LegacyKVCache(1, window)
    ptr = None
    for c, s in enumerate(range(0, 18, 3)):
        k = _kv(1, 3, seed=c)
        got = cache.attend(0, s, 3, k, 2 * k, write_cache=True)
        want = ref.attend(0, s, 3, k, 2 * k, write_cache=True)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert cache.cached_frames == ref.cached_frames
        if c >= 2:  # once the buffer reached the window's size it is never reallocated
            ptr = ptr or cache.layers[0].k.data_ptr()
            assert cache.layers[0].k.data_ptr() == ptr
    assert cache.cached_frames[0] == 0  # the sink


@torch.no_grad()
def test_fork_copies_the_prefix_once_and_never_writes_its_source():
    cache = KVCache(1, AttentionWindow(-1, 0))
    cache.attend(0, 0, 3, _kv(1, 3), _kv(1, 3, seed=1), write_cache=True)
    src_k = cache.layers[0].k.clone()
    fork = cache.fork(4)
    assert fork.layers[0].k.untyped_storage().data_ptr() != cache.layers[0].k.untyped_storage().data_ptr()
    for s in (3, 6):
        k = _kv(4, 3, seed=s)
        fork.attend(0, s, 3, k, k, write_cache=True)
    assert torch.equal(cache.layers[0].k, src_k)
    assert fork.cached_frames == list(range(9)) and cache.cached_frames == [0, 1, 2]
    assert torch.equal(fork.read(0, 9, 12)[0][:, :6], _kv(1, 3).expand(4, -1, -1, -1))


@torch.no_grad()
def test_clone_and_select_copy_on_commit_and_scratch_writes_do_not_leak():
    cache = KVCache(1, AttentionWindow(-1, 0))
    cache.attend(0, 0, 3, _kv(2, 3), _kv(2, 3, seed=1), write_cache=True)
    snapshot = cache.read(0, 3, 6)[0].clone()
    twin, one = cache.clone(), cache.select(1)
    twin.attend(0, 3, 3, _kv(2, 3, seed=7), _kv(2, 3, seed=7), write_cache=False)  # scratch: same buffer
    assert twin.layers[0].k.data_ptr() == cache.layers[0].k.data_ptr()
    one.attend(0, 3, 3, _kv(1, 3, seed=8), _kv(1, 3, seed=8), write_cache=True)  # commit: private copy
    cache.attend(0, 3, 3, _kv(2, 3, seed=9), _kv(2, 3, seed=9), write_cache=True)
    assert torch.equal(twin.read(0, 3, 6)[0], snapshot) and twin.cached_frames == [0, 1, 2]
    assert torch.equal(one.read(0, 6, 9)[0], torch.cat([snapshot[1:2], _kv(1, 3, seed=8)], 1))
    assert torch.equal(cache.read(0, 6, 9)[0], torch.cat([snapshot, _kv(2, 3, seed=9)], 1))


def test_autograd_through_the_chunk_keeps_a_graph_later_writes_cannot_break():
    cache = KVCache(1, AttentionWindow(-1, 0))
    with torch.no_grad():
        cache.attend(0, 0, 3, _kv(1, 3), _kv(1, 3), write_cache=True)
    k = _kv(1, 3, seed=4).requires_grad_()
    keys, _ = cache.attend(0, 3, 3, k, k, write_cache=False)
    with torch.no_grad():
        cache.attend(0, 3, 3, _kv(1, 3, seed=5), _kv(1, 3, seed=5), write_cache=True)  # overwrites the slots
    (keys[:, 6:] * 2).sum().backward()
    assert torch.equal(k.grad, torch.full_like(k, 2.0))
    assert torch.equal(keys[:, 6:].detach(), k.detach())
