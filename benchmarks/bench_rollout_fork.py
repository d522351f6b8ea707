"""Cost of the forked, batched rollout vs regenerating the prefix per continuation vs continuations one by one
(tiny executor, CPU). Prints wall times, ratios, and DiT forward counts/token work side by side."""
from __future__ import annotations

import time

import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout, regenerate_rollout, sequential_rollout
from plotline.video import VideoConfig


def _count_forwards(model):
    """Attach a hook counting DiT forwards and the (batch × frames) they process."""
    stats = {"calls": 0, "frame_rows": 0}

    def hook(_m, args, _out):
        stats["calls"] += 1
        stats["frame_rows"] += int(args[0].shape[0] * args[0].shape[2])
    return stats, model.register_forward_hook(hook)


def main(repeats: int = 3) -> dict[str, dict[str, float]]:
    """Time the three strategies on the same plan/noise and print a table of costs relative to the fork."""
    torch.set_num_threads(1)
    K, L, k, N = 21, 12, 12, 8
    video = VideoConfig(target_latent_frames=K, latent_frames_per_step=L, switch_frames=[k])
    ex = build_executor(ExecutorConfig(latent_height=8, latent_width=8), video, device="cpu")
    ctx = ex.encode(["a red square on the left", "the square moves right"])
    starts = span_starts(K, L, k)
    noise = ex.noise(0)
    ids = list(range(N))
    strategies = {"fork + one batch": fork_rollout, "prefix once, one by one": sequential_rollout,
                  "regenerate prefix each": regenerate_rollout}
    results, reference = {}, None
    for name, fn in strategies.items():
        stats, handle = _count_forwards(ex.model)
        best = float("inf")
        with torch.no_grad():
            for _ in range(repeats):
                stats.update(calls=0, frame_rows=0)
                t0 = time.perf_counter()
                out = fn(ex.generator, ctx, starts, K, k, noise, "bench", ids)
                best = min(best, time.perf_counter() - t0)
        handle.remove()
        if reference is None:
            reference = out.continuations
        else:
            torch.testing.assert_close(out.continuations, reference, atol=2e-5, rtol=1e-4)
        results[name] = {"seconds": best, "forwards": stats["calls"], "frame_rows": stats["frame_rows"]}
    base = results["fork + one batch"]
    print(f"tiny DiT, K={K} latent frames, fork at k={k}, N={N} continuations, {len(ex.generator.sigmas)} steps/chunk")
    print(f"{'strategy':<26}{'wall s':>9}{'× fork':>9}{'DiT calls':>11}{'× fork':>9}{'frame-rows':>12}{'× fork':>9}")
    for name, r in results.items():
        print(f"{name:<26}{r['seconds']:>9.3f}{r['seconds'] / base['seconds']:>9.2f}{r['forwards']:>11d}"
              f"{r['forwards'] / base['forwards']:>9.2f}{r['frame_rows']:>12d}{r['frame_rows'] / base['frame_rows']:>9.2f}")
    print("(all three produce the same continuations; checked)")
    return results


if __name__ == "__main__":
    main()
