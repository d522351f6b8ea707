"""Running models on the meta device as a GPU would: fused (flash) attention that never materialises the
[Lq, Lk] score matrix, and published model configs written out as code (no downloads)."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F


class _FlashAttention(torch.autograd.Function):
    """Memory model of a fused attention kernel: output [.., Lq, dv], a fp32 log-sum-exp [.., Lq] saved with
    q, k, v and the output for the backward; the backward allocates dq, dk, dv."""

    @staticmethod
    def forward(ctx, q, k, v):
        out = q.new_empty(*q.shape[:-1], v.shape[-1])
        lse = q.new_empty(q.shape[:-1], dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, _, _ = ctx.saved_tensors
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _fused_attention(original):
    def sdpa(q, k, v, *args, enable_gqa: bool = False, **kwargs):
        if q.device.type != "meta":
            return original(q, k, v, *args, enable_gqa=enable_gqa, **kwargs)
        if enable_gqa and k.shape[-3] != q.shape[-3]:
            rep = q.shape[-3] // k.shape[-3]
            k, v = k.repeat_interleave(rep, -3), v.repeat_interleave(rep, -3)
        return _FlashAttention.apply(q, k, v)

    return sdpa


@contextmanager
def on_meta():
    """New tensors default to the meta device, and scaled_dot_product_attention on meta tensors is modelled as a
    fused kernel (swapped in torch.nn.functional for the duration, so checkpoint recomputation sees it too)."""
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _fused_attention(original)
    try:
        with torch.device("meta"):
            yield
    finally:
        F.scaled_dot_product_attention = original


def umt5_xxl_config():
    """The UMT5-XXL encoder of Wan2.1 (google/umt5-xxl published config values)."""
    from transformers import UMT5Config

    return UMT5Config(
        vocab_size=256384,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_layers=24,
        num_heads=64,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        # tie_word_embeddings is taken through **kwargs by PretrainedConfig
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        tie_word_embeddings=False,
    )  # type: ignore[call-arg]


def qwen3_config(name: str):
    """Published config values of a Qwen3 planner size (`Qwen3-0.6B`, `Qwen3-1.7B`, `Qwen3-4B`, `Qwen3-8B`)."""
    from transformers import Qwen3Config

    sizes = {  # hidden, intermediate, layers, heads, kv heads, tied embeddings
        "Qwen3-0.6B": (1024, 3072, 28, 16, 8, True),
        "Qwen3-1.7B": (2048, 6144, 28, 16, 8, True),
        "Qwen3-4B": (2560, 9728, 36, 32, 8, True),
        "Qwen3-8B": (4096, 12288, 36, 32, 8, False),
    }
    if name not in sizes:
        raise KeyError(f"no published Qwen3 config for {name!r}; known: {', '.join(sizes)}")
    h, i, n, heads, kv, tied = sizes[name]
    return Qwen3Config(
        vocab_size=151936,
        hidden_size=h,
        intermediate_size=i,
        num_hidden_layers=n,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=128,
        max_position_embeddings=40960,
        # rope_theta is taken through **kwargs (transformers 5 folds it into rope_parameters)
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tied,
    )  # type: ignore[call-arg]


def planner_config(path: str | None, default: str = "Qwen3-1.7B"):
    """The planner's model config: its local config.json when `path` holds one (no weights are read), else the
    published config named by the path's last component (e.g. /models/Qwen3-1.7B), else `default`'s."""
    from pathlib import Path

    if path and (Path(path) / "config.json").is_file():
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(path, local_files_only=True)
    name = Path(path).name if path else default
    try:
        return qwen3_config(name)
    except KeyError:
        return qwen3_config(default)


def wan_vae_config() -> dict:
    """AutoencoderKLWan arguments of the Wan2.1 VAE (diffusers' defaults are its published values)."""
    return {
        "base_dim": 96,
        "z_dim": 16,
        "dim_mult": [1, 2, 4, 4],
        "num_res_blocks": 2,
        "temperal_downsample": [False, True, True],
    }
