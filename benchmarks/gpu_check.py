"""`make gpu-check`: the real-size executor architecture with random weights (no downloads) on whatever device is
present: one plan's rollout at N continuations (one batch) and one Flow-GRPO update (per-transition,
micro-batched, checkpointed backward + AdamW step). Prints wall time, peak memory and model-FLOP utilisation.
`--tiny` runs the same code path at CPU size (what the CPU test does)."""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from plotline.executor.arch import TINY, WAN_1_3B
from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.kv_cache import AttentionWindow
from plotline.executor.lora import attach_lora
from plotline.executor.model import CausalWanDiT
from plotline.executor.noise import ChunkNoise
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout
from plotline.executor.schedule import warped_sigmas
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer, TransitionGroup

PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
"""Dense bf16 tensor-core peak (TFLOP/s) by device-name fragment, for the utilisation figure."""
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _phase(name, fn, device, results):
    """Run fn twice: once under a FLOP counter (also the warm-up), once timed with the peak memory recorded."""
    with FlopCounterMode(display=False) as counter:
        fn()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    results[f"{name}_s"] = time.perf_counter() - start
    results[f"{name}_flops"] = float(counter.get_total_flops())
    results[f"{name}_peak_bytes"] = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return out


def parse(argv=None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tiny", action="store_true", help="CPU-sized architecture and geometry (the CPU test)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(_DTYPES), default="bfloat16")
    p.add_argument("--n", type=int, default=8, help="continuations N")
    p.add_argument("--k", type=int, default=12, help="switch frame k")
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the utilisation figure")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Rollout + update at real size (or --tiny); print and return times, FLOPs, peak memory and MFU."""
    a = parse(argv)
    device, dtype = torch.device(a.device), _DTYPES[a.dtype]
    arch = TINY if a.tiny else WAN_1_3B
    K, L, (h, w) = (9, 3, (8, 8)) if a.tiny else (21, 12, (60, 104))
    k = min(a.k, K - 3) if a.tiny else a.k
    torch.manual_seed(0)
    model = CausalWanDiT(arch).to(device, dtype).eval().requires_grad_(False)
    # LongLive's window (12 frames, the sink of 3 included) and its one-pass re-cache at the switch
    gen = ChunkGenerator(
        model,
        warped_sigmas([1000, 750, 500, 250], 5.0),
        AttentionWindow(local_attn_size=12, sink_size=3),
        3,
        True,
        recache_mode="one_pass",
    )
    cfg = FlowGRPOConfig(
        lora_rank=8 if a.tiny else 256,
        lora_alpha=8 if a.tiny else 256,
        clip=0.2,
        micro_batch_size=a.micro_batch,
        gradient_checkpointing=not a.no_checkpointing,
    )
    peft = attach_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets)
    trainer = FlowGRPOTrainer(peft, gen, cfg)
    starts = span_starts(K, L, k)
    ctx = [torch.randn(1, arch.text_len, arch.text_dim, device=device).to(dtype) for _ in starts]
    noise = ChunkNoise(0, (arch.in_dim, 3, h, w), 4)  # fp32; the model casts at its boundary
    results: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": a.dtype,
        "N": a.n,
        "k": k,
        "arch": "tiny" if a.tiny else "wan-1.3b",
    }
    with torch.no_grad():
        r = _phase(
            "rollout", lambda: fork_rollout(gen, ctx, starts, K, k, noise, "p", list(range(a.n))), device, results
        )
    t = r.trajectory
    g = TransitionGroup(
        [f"s{i}" for i in range(a.n)],
        r.prefix,
        ctx,
        starts,
        t.states,
        t.velocities,
        t.logprobs,
        t.sigmas,
        torch.randn(a.n, device=device),
    )

    def update():
        m = trainer.backward(g)
        m["grad_norm"] = trainer.step(g.sample_ids)
        return m

    metrics = _phase("update", update, device, results)
    results["grad_norm"] = metrics["grad_norm"]
    peak = a.peak_tflops or next((v for key, v in PEAK_TFLOPS.items() if key in results["device"]), None)
    for name in ("rollout", "update"):
        secs, flops, mem = results[f"{name}_s"], results[f"{name}_flops"], results[f"{name}_peak_bytes"]
        mfu = flops / secs / (peak * 1e12) if peak and device.type == "cuda" else None
        results[f"{name}_mfu"] = mfu
        print(
            f"{name:8s} {secs:8.2f} s  {flops / 1e12:9.2f} TFLOP  "
            f"peak {'n/a' if mem is None else f'{mem / 1e9:.1f} GB':>9s}  "
            f"MFU {'n/a' if mfu is None else f'{100 * mfu:.1f} %'}"
        )
    if not math.isfinite(results["grad_norm"]):
        raise SystemExit("non-finite gradient norm")
    print(f"device {results['device']}, {a.dtype}, N={a.n}, k={k}, grad norm {results['grad_norm']:.3g}")
    return results


if __name__ == "__main__":
    main()
