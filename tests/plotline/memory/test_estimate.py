"""Per-stage memory estimates on the meta device, checked against independent counts on a tiny executor."""

import torch

from plotline.config import load_config
from plotline.executor.arch import TINY
from plotline.memory import estimate as E
from plotline.memory.live import LiveBytesMeter
from plotline.memory.meta import on_meta

TINY_RUN = [
    "executor.backbone=tiny",
    "executor.latent_height=8",
    "executor.latent_width=8",
    "executor.num_continuations=4",
    "video.target_latent_frames=9",
    "video.latent_frames_per_step=3",
    "video.switch_frames=[3,6]",
    "rl.executor.lora_rank=4",
    "rl.executor.lora_alpha=4",
    "executor.dtype=float32",
]


def tiny(*extra):
    return load_config([], TINY_RUN + list(extra))


def test_rollout_estimate_holds_the_kv_cache_and_matches_the_real_rollout_on_meta():
    from plotline.executor.prompts import span_starts
    from plotline.executor.rollout import fork_rollout

    cfg = tiny("executor.local_attn_size=-1")  # global attention: every earlier frame stays cached
    n, k, K = 4, 3, 9
    est = E.estimate_rollout(cfg, k)
    measured = est.parts["KV cache + activations (measured)"]
    tokens = (8 // 2) * (8 // 2)
    frame = 2 * TINY.num_layers * tokens * TINY.dim * 4  # K and V of one frame, fp32
    kv = frame * (k + n * (6 - k))  # before the last chunk [6, 9): prefix once, continuation frames × N
    assert kv < measured < kv + 4 * n * 3 * tokens * TINY.ffn_dim * 4 * 4  # cache + a bounded forward
    # the real rollout code on meta: its peak (the whole rollout) is the same order, never far below
    ex = E._executor_on_meta(cfg)
    ctx = E._contexts(ex, 3)
    noise = E._MetaNoise(ex.shape, len(ex.generator.sigmas), ex.dtype)
    with torch.no_grad(), on_meta(), LiveBytesMeter() as meter:
        fork_rollout(ex.generator, ctx, span_starts(K, 3, k), K, k, noise, "p", list(range(n)))
    assert 0.7 * measured < meter.peak < 1.5 * measured


def test_update_estimate_scales_with_micro_batch_and_checkpointing_saves_activations():
    one = E.estimate_update_executor(tiny("rl.executor.micro_batch_size=1"), 6)
    four = E.estimate_update_executor(tiny("rl.executor.micro_batch_size=4"), 6)
    ckpt = E.estimate_update_executor(
        tiny("rl.executor.micro_batch_size=4", "rl.executor.gradient_checkpointing=true"), 6
    )
    key = "prefix caches + activations + grads (measured)"
    saved = "saved activations (saved_tensors_hooks)"
    assert four.notes[saved] > 3 * one.notes[saved]
    assert ckpt.notes[saved] < 0.5 * four.notes[saved] and ckpt.parts[key] < four.parts[key]
    lora = four.parts["LoRA params"]
    assert four.parts["AdamW moments"] == 2 * lora and lora > 0
    # resident weights are the executor's real parameter bytes
    ex = E._executor_on_meta(tiny())
    assert four.parts["DiT weights"] == sum(p.numel() * 4 for p in ex.model.parameters())


def test_estimate_all_orders_stages_and_rejects_unknown_ones():
    cfg = tiny()
    names = [e.stage for e in E.estimate_all(cfg, stages=["vae_decode", "rollout"])]
    assert names == ["rollout (k=3)", "rollout (k=6)", "vae_decode"]
    try:
        E.estimate_all(cfg, stages=["nope"])
    except KeyError as exc:
        assert "nope" in str(exc) and "update_planner" in str(exc)
    else:
        raise AssertionError("unknown stage accepted")
