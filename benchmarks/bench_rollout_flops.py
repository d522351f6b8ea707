"""FLOP- and byte-accounted rollout report at the real Wan-1.3B size, counted on the meta device.

One plan's rollout: shared prefix of k frames + N continuations forked, K = 21 latent frames of 16×60×104
(480×832), chunks of 3, 4 denoising steps + one clean commit pass per chunk, with the rollout code itself
(plotline.executor.rollout.fork_rollout) on a meta-device DiT (LoRA attached, as the policy rolls out). One
Flow-GRPO update of that plan: prefix cache rebuilt (policy and reference), first 3 transitions of the switch
chunk, policy forward + backward through the LoRA and a reference forward. VAE: diffusers AutoencoderKLWan built
from its default config (= the published Wan2.1 VAE config) on meta, decoding N full videos and, as the rollout
does, the prefix once plus each continuation from its causal state. Text encoder: UMT5-XXL
(transformers UMT5EncoderModel, google/umt5-xxl's published sizes) encoding the plan's prompts at 512 tokens.
Prints the floor FLOPs / peak; with CUDA it runs the DiT rollout and the decodes for real and prints time and MFU.

`python -m benchmarks rollout_flops` (options: python -m benchmarks.bench_rollout_flops --help).
"""

from __future__ import annotations

import argparse
import time

import torch

from plotline.executor.arch import WAN_1_3B
from plotline.executor.backbones import get_backbone
from plotline.executor.denoise_loop import ChunkGenerator, cache_from_latents
from plotline.executor.flops import DIT_KINDS, Count, KVTrafficMeter, count_forward, count_forward_backward, merge
from plotline.executor.lora import attach_lora
from plotline.executor.model import CausalWanDiT
from plotline.executor.noise import ChunkNoise
from plotline.executor.rollout import fork_rollout
from plotline.executor.schedule import warped_sigmas
from plotline.rl.flow_grpo_config import FlowGRPOConfig

K, CHUNK, LATENT = 21, 3, (16, 60, 104)
UMT5_XXL = dict(
    d_model=4096, d_kv=64, d_ff=10240, num_heads=64, num_layers=24, vocab_size=256384, feed_forward_proj="gated-gelu"
)
"""google/umt5-xxl encoder sizes (Wan2.1's text encoder)."""


def build(backbone: str, device: str, dtype: torch.dtype, rl: FlowGRPOConfig):
    """(generator, peft model) of the real-size DiT with the RL LoRA attached, random weights on `device`."""
    bb = get_backbone(backbone)
    with torch.device(device):
        model = CausalWanDiT(bb.arch).to(dtype).eval().requires_grad_(False)
        peft = attach_lora(model, rl.lora_rank, rl.lora_alpha, rl.lora_targets)
    gen = ChunkGenerator(
        model,
        warped_sigmas([1000, 750, 500, 250], 5.0),
        bb.window,
        CHUNK,
        bb.recache_on_switch,
        recache_mode=bb.recache_mode,
    )
    return gen, peft


def plan_inputs(device: str, dtype: torch.dtype, k: int):
    """Two span contexts [1, 512, 4096] (switch at k) and the noise source."""
    ctx = [torch.zeros(1, WAN_1_3B.text_len, WAN_1_3B.text_dim, device=device, dtype=dtype) for _ in range(2)]
    return ctx, [0, k], ChunkNoise(0, (LATENT[0], CHUNK, *LATENT[1:]), 4)


@torch.no_grad()
def _rollout(gen, ctx, starts, noise, k, n):
    return fork_rollout(gen, ctx, starts, K, k, noise, "plan", list(range(n)))


def count_update(gen, peft, prefix, ctx, starts, states, n: int, rl: FlowGRPOConfig) -> Count:
    """Flow-GRPO update of one plan: cache rebuilds (no grad), then per transition policy fwd+bwd, ref fwd."""
    with torch.no_grad():
        rebuild, cache = count_forward(lambda: cache_from_latents(gen, prefix, ctx, starts).fork(n))
        parts = [rebuild]
        if rl.beta:
            with peft.disable_adapter():
                ref_rebuild, ref_cache = count_forward(lambda: cache_from_latents(gen, prefix, ctx, starts).fork(n))
            parts.append(ref_rebuild)
    k = prefix.shape[2]
    c = ctx[1].expand(n, -1, -1)
    t = torch.full((n, CHUNK), 1000.0, device=prefix.device)
    for i in range(min(rl.train_transitions, states.shape[1] - 1)):
        x = states[:, i]
        parts.append(
            count_forward_backward(
                lambda: gen.model(x, t, c, cache=cache.clone(), start_frame=k),
                lambda v: v.float().square().mean().backward(),
            )
        )
        if rl.beta:
            with torch.no_grad(), peft.disable_adapter():
                parts.append(count_forward(lambda: gen.model(x, t, c, cache=ref_cache.clone(), start_frame=k))[0])
    return merge(parts)


def _meta_decoder():
    from diffusers import AutoencoderKLWan

    from plotline.executor.vae import WanDecoder

    with torch.device("meta"):
        return WanDecoder(AutoencoderKLWan().to(torch.bfloat16))


def count_vae_decode(n: int) -> int:
    """FLOPs of n full decodes of K latent frames (AutoencoderKLWan default config on meta)."""
    dec = _meta_decoder()
    z = torch.zeros(1, LATENT[0], K, *LATENT[1:], device="meta", dtype=torch.bfloat16)
    with torch.no_grad():
        one, _ = count_forward(lambda: dec(z), breakdown=False)
    return n * one.total


def count_vae_decode_fork(n: int, k: int) -> int:
    """FLOPs of the rollout's decode (plotline.executor.vae.decode_rollout): the k prefix frames once, then the
    K − k frames of each of the n continuations from the prefix's forked causal state (meta)."""
    from plotline.executor.vae import decode_rollout

    dec = _meta_decoder()
    prefix = torch.zeros(1, LATENT[0], k, *LATENT[1:], device="meta", dtype=torch.bfloat16)
    cont = torch.zeros(n, LATENT[0], K - k, *LATENT[1:], device="meta", dtype=torch.bfloat16)
    with torch.no_grad():
        c, _ = count_forward(lambda: decode_rollout(dec, prefix, cont), breakdown=False)
    return c.total


def count_text_encoder(prompts: int) -> int:
    """FLOPs of UMT5-XXL encoding `prompts` prompts at 512 tokens (meta)."""
    from transformers import UMT5Config, UMT5EncoderModel

    with torch.device("meta"):
        enc = UMT5EncoderModel(UMT5Config(**UMT5_XXL)).to(torch.bfloat16)
    ids = torch.zeros(prompts, WAN_1_3B.text_len, dtype=torch.long, device="meta")
    with torch.no_grad():
        c, _ = count_forward(lambda: enc(input_ids=ids).last_hidden_state, breakdown=False)
    return c.total


def measure_gpu(backbone: str, k: int, n: int, rl: FlowGRPOConfig) -> dict[str, float]:
    """Seconds of the DiT rollout and of its decode (prefix once, continuations from its state) on CUDA (bf16,
    random weights; one warm-up)."""
    from diffusers import AutoencoderKLWan

    gen, _ = build(backbone, "cuda", torch.bfloat16, rl)
    ctx, starts, noise = plan_inputs("cuda", torch.bfloat16, k)
    _rollout(gen, ctx, starts, noise, k, n)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    r = _rollout(gen, ctx, starts, noise, k, n)
    torch.cuda.synchronize()
    dit = time.perf_counter() - t0
    del gen
    from plotline.executor.vae import WanDecoder, decode_rollout

    with torch.device("cuda"):
        dec = WanDecoder(AutoencoderKLWan().to(torch.bfloat16).eval())
    with torch.no_grad():
        decode_rollout(dec, r.prefix[:, :, :3], r.continuations[:1, :, :3])  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        decode_rollout(dec, r.prefix, r.continuations)
        torch.cuda.synchronize()
    return {"dit_rollout": dit, "vae_decode": time.perf_counter() - t0}


def report(backbone: str, k: int, n: int, peak_tflops: float, rl: FlowGRPOConfig, vae: int, text: int) -> dict:
    """Count one plan's rollout and update at k and print the table; returns the numbers."""
    gen, peft = build(backbone, "meta", torch.bfloat16, rl)
    ctx, starts, noise = plan_inputs("meta", torch.bfloat16, k)
    meter = KVTrafficMeter(gen.model)
    roll, r = count_forward(lambda: _rollout(gen, ctx, starts, noise, k, n))
    kv = meter.close()
    upd = count_update(gen, peft, r.prefix, ctx, starts, r.trajectory.states, n, rl)
    peak = peak_tflops * 1e12
    rows = [(f"DiT {kind}", roll.by_kind[kind]) for kind in DIT_KINDS]
    vae_fork = count_vae_decode_fork(n, k)
    rows += [("DiT rollout (total)", roll.total), ("VAE decode, prefix once", vae_fork), ("UMT5 text encoder", text)]
    whole = roll.total + vae_fork + text
    print(f"-- {backbone}, fork at k={k}, N={n}, K={K} latent frames {LATENT}, chunks of {CHUNK}, 4 steps + commit")
    print(f"{'component':<28}{'PFLOP':>10}{'share':>8}{'floor s':>10}")
    for name, f in rows:
        print(f"{name:<28}{f / 1e15:>10.3f}{f / whole:>8.1%}{f / peak:>10.2f}")
    print(f"{'rollout (DiT+VAE+text)':<28}{whole / 1e15:>10.3f}{1:>8.0%}{whole / peak:>10.2f}")
    print(
        f"{'update fwd+bwd (3 transitions)':<28}{upd.total / 1e15:>10.3f}{'':>8}{upd.total / peak:>10.2f}"
        f"   (backward {upd.backward / 1e15:.3f}; attention core {upd.by_kind['self_attn_core'] / 1e15:.3f})"
    )
    attn = roll.by_kind["self_attn_core"] + roll.by_kind["cross_attn_core"]
    print(f"attention cores are {attn / roll.total:.0%} of the DiT rollout")
    print(
        f"VAE decode: {n} full videos {vae / 1e15:.3f} PFLOP, prefix decoded once {vae_fork / 1e15:.3f} PFLOP: "
        f"{vae / vae_fork:.2f}x fewer decode FLOPs"
    )
    print(
        f"KV cache bytes: attention reads {kv.attended / 1e9:.1f} GB; a concatenating cache would copy "
        f"{kv.concat_copies / 1e9:.1f} GB; the in-place cache copied {kv.in_place_copies / 1e9:.1f} GB"
    )
    out = {
        "k": k,
        "dit": roll.total,
        "vae": vae_fork,
        "vae_full": vae,
        "decode_ratio": vae / vae_fork,
        "text": text,
        "update": upd.total,
        "floor_s": whole / peak,
        "kv": kv,
    }
    if torch.cuda.is_available():
        t = measure_gpu(backbone, k, n, rl)
        print(
            f"measured on {torch.cuda.get_device_name()}: DiT rollout {t['dit_rollout']:.2f} s "
            f"(MFU {roll.total / t['dit_rollout'] / peak:.0%}), VAE decodes {t['vae_decode']:.2f} s "
            f"(MFU {vae_fork / t['vae_decode'] / peak:.0%}); DiT+VAE {(t['dit_rollout'] + t['vae_decode']):.2f} s vs "
            f"floor {(roll.total + vae_fork) / peak:.2f} s (text encoder not timed)"
        )
        out["measured"] = t
        out["floor_dv_s"] = (roll.total + vae_fork) / peak
        out["dit_mfu"] = roll.total / t["dit_rollout"] / peak
    else:
        print("no GPU: measured time and MFU not available on this machine")
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the report for each k."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peak-tflops", type=float, default=790.0, help="GPU dense bf16 peak (H200: 790)")
    p.add_argument("--backbone", default="self_forcing", choices=["self_forcing", "longlive"])
    p.add_argument("--k", type=int, nargs="+", default=[6, 12], help="fork frames")
    p.add_argument("--n", type=int, default=8, help="continuations per plan")
    args = p.parse_args(argv or [])
    rl = FlowGRPOConfig()
    print(f"peak {args.peak_tflops:.0f} TFLOP/s; FLOPs counted on the meta device (matmul/conv/attention only)")
    vae, text = count_vae_decode(args.n), count_text_encoder(2)
    return [report(args.backbone, k, args.n, args.peak_tflops, rl, vae, text) for k in args.k]


def ratios(out: list[dict]) -> dict[str, float]:
    """The summary `make bench` prints: decode FLOPs saved by decoding the prefix once, floor seconds, and (on a
    GPU) the measured DiT MFU and rollout time over its floor."""
    res = {}
    for r in out:
        k = r["k"]
        res[f"rollout k={k}: decode FLOPs full / prefix once"] = r["decode_ratio"]
        res[f"rollout k={k}: floor s (DiT+VAE+text)"] = r["floor_s"]
        if "measured" in r:
            t = r["measured"]
            res[f"rollout k={k}: DiT+VAE time / floor"] = (t["dit_rollout"] + t["vae_decode"]) / r["floor_dv_s"]
            res[f"rollout k={k}: DiT MFU"] = r["dit_mfu"]
    return res


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
