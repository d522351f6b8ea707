"""Honest fork benchmark: the forked, batched rollout against three baselines at a non-trivial DiT size
(dim 256, 96 tokens per frame, 21 latent frames, N = 8, global attention as Self-Forcing), for k = 6 and k = 12.

Strategies: N videos without a fork one at a time; N videos without a fork in one batch; the prefix once then the
continuations one at a time; the fork (prefix once, continuations in one batch). Each measured time ratio to the
fork is printed next to its FLOP ratio, both counted on the same code (FLOPs on the meta device). CPU kernels are
more efficient at batch 8 than at batch 1, so a batch-1 baseline's time ratio may exceed its FLOP ratio; where
they differ by more than 10 % the table says so instead of hiding it.
"""

from __future__ import annotations

import time

import torch

from plotline.executor.arch import DiTArch
from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.flops import count_forward
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.model import CausalWanDiT
from plotline.executor.noise import ChunkNoise
from plotline.executor.rollout import batched_rollout, fork_rollout, regenerate_rollout, sequential_rollout
from plotline.executor.schedule import warped_sigmas

ARCH = DiTArch(
    in_dim=4, out_dim=4, dim=256, ffn_dim=1024, freq_dim=64, text_dim=64, text_len=16, num_heads=4, num_layers=2
)
"""dim 256, 4 heads of 64, 2 layers: attention and matmuls dominate, as at real size."""
K, CHUNK, N, LATENT_HW = 21, 3, 8, (16, 24)  # patch 2×2 → 8×12 = 96 tokens per frame
STRATEGIES = {
    "N videos, one at a time": regenerate_rollout,
    "N videos, one batch": batched_rollout,
    "prefix once, then 1 by 1": sequential_rollout,
    "fork (prefix once, batch)": fork_rollout,
}
TOLERANCE = 0.10


def _setup(device: str):
    with torch.random.fork_rng(), torch.device(device):
        torch.manual_seed(0)
        model = CausalWanDiT(ARCH).eval().requires_grad_(False)
        ctx = [torch.randn(1, ARCH.text_len, ARCH.text_dim) for _ in range(2)]
    gen = ChunkGenerator(model, warped_sigmas([1000, 750, 500, 250], 5.0), AttentionWindow(-1, 0), CHUNK, False)
    return gen, ctx, ChunkNoise(0, (ARCH.in_dim, CHUNK, *LATENT_HW), len(gen.sigmas))


class ForwardLedger:
    """Records the signature of every DiT forward of a real run (batch, frames, visible past frames, whether the
    text K/V were cached); flops() counts each distinct signature once on the meta device with FlopCounterMode
    (a fresh meta cache holding that many past frames) and sums over the run. Equal signatures are the same work."""

    def __init__(self, model: CausalWanDiT):
        self.calls: dict[tuple, int] = {}
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, _m, args, kwargs):
        x, ctx, cache = args[0], args[2], kwargs.get("cache")
        s = kwargs.get("start_frame", 0)
        past = len([f for f in cache.cached_frames if f < s]) if cache is not None else 0
        cross = cache is not None and cache.cross[0] is not None
        key = (tuple(x.shape), tuple(ctx.shape), past, cross)
        self.calls[key] = self.calls.get(key, 0) + 1

    def close(self) -> None:
        self._handle.remove()

    def flops(self) -> int:
        """Total FLOPs of the recorded forwards."""
        with torch.device("meta"):
            model = CausalWanDiT(ARCH).eval().requires_grad_(False)
        total = 0
        for (xs, cs, past, cross), n in self.calls.items():
            b, _, nf, h, w = xs
            cache = KVCache(ARCH.num_layers, AttentionWindow(-1, 0))
            tokens = (h // ARCH.patch_size[1]) * (w // ARCH.patch_size[2])
            kv = torch.zeros(b, past * tokens, ARCH.num_heads, ARCH.head_dim, device="meta")
            text = torch.zeros(b, ARCH.text_len, ARCH.num_heads, ARCH.head_dim, device="meta")
            for layer in range(ARCH.num_layers):
                if past:
                    cache.write(layer, 0, kv, kv, past)
                if cross:
                    cache.cross[layer] = (text, text)
            x = torch.zeros(xs, device="meta")
            c, _ = count_forward(
                lambda: model(
                    x, torch.zeros(b, nf, device="meta"), torch.zeros(cs, device="meta"), cache=cache, start_frame=past
                ),
                breakdown=False,
            )
            total += n * c.total
        return total


@torch.no_grad()
def run_k(k: int, repeats: int) -> dict[str, dict[str, float]]:
    """FLOPs and best-of-`repeats` wall time (CPU, one thread; strategies interleaved per repeat) of every
    strategy at fork frame k; checks that they produce the same continuations."""
    gen, ctx, noise = _setup("cpu")
    starts, ids = [0, k], list(range(N))
    out = {name: {"seconds": float("inf"), "flops": 0} for name in STRATEGIES}
    reference = None
    for rep in range(repeats):
        for name, fn in STRATEGIES.items():
            ledger = ForwardLedger(gen.model) if rep == 0 else None
            t0 = time.perf_counter()
            r = fn(gen, ctx, starts, K, k, noise, "bench", ids)
            out[name]["seconds"] = min(out[name]["seconds"], time.perf_counter() - t0)
            if ledger is not None:
                ledger.close()
                out[name]["flops"] = ledger.flops()
                if reference is None:
                    reference = r.continuations
                else:
                    torch.testing.assert_close(r.continuations, reference, atol=1e-4, rtol=1e-3)
    return out


def main(repeats: int = 2) -> dict[int, dict[str, dict[str, float]]]:
    """Print, for k = 6 and 12, each strategy's time and FLOPs relative to the fork and whether they track."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results = {}
    try:
        print(
            f"DiT dim {ARCH.dim}, {ARCH.num_layers} layers, {LATENT_HW[0] // 2 * LATENT_HW[1] // 2} tokens/frame, "
            f"K={K}, chunks of {CHUNK}, 4 steps + commit, N={N}, global attention; CPU, 1 thread, best of {repeats}"
        )
        for k in (6, 12):
            res = results[k] = run_k(k, repeats)
            base = res["fork (prefix once, batch)"]
            print(f"-- fork at k={k}")
            print(f"{'strategy':<28}{'wall s':>8}{'GFLOP':>9}{'time ×':>8}{'FLOP ×':>8}{'time/FLOP':>11}")
            for name, r in res.items():
                tr, fr = r["seconds"] / base["seconds"], r["flops"] / base["flops"]
                flag = "" if abs(tr / fr - 1) <= TOLERANCE else "  (differs > 10 %)"
                print(
                    f"{name:<28}{r['seconds']:>8.2f}{r['flops'] / 1e9:>9.1f}{tr:>8.2f}{fr:>8.2f}{tr / fr:>11.2f}{flag}"
                )
        print("(all strategies produce the same continuations; checked)")
    finally:
        torch.set_num_threads(threads)
    return results


if __name__ == "__main__":
    main()


def ratios(results: dict[int, dict[str, dict[str, float]]]) -> dict[str, float]:
    """The summary `make bench` prints: each baseline's time and FLOPs over the fork's, per k."""
    out = {}
    for k, res in results.items():
        base = res["fork (prefix once, batch)"]
        for name, r in res.items():
            if r is base:
                continue
            out[f"fork k={k}: {name} time×"] = r["seconds"] / base["seconds"]
            out[f"fork k={k}: {name} FLOP×"] = r["flops"] / base["flops"]
    return out
