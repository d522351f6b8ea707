"""Meta-device FLOP and KV-byte counting against hand counts of the tiny DiT (2·m·n·k per linear layer,
4·Lq·Lk·d per attention head), so the real-size report cannot silently drift."""

import torch
from torch import nn

from plotline.executor.arch import TINY
from plotline.executor.flops import (
    DIT_KINDS,
    KVTrafficMeter,
    attention_flops,
    count_forward,
    count_forward_backward,
    linear_flops,
)
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.model import CausalWanDiT

B, NF, HW = 2, 3, 8  # batch, chunk frames, latent side (patch 2×2 → 16 tokens per frame)


def _hand(a, past_tokens: int, text_kv: bool) -> dict[str, int]:
    t = (HW // 2) ** 2
    L, lt, d, h = NF * t, a.text_len, a.dim, a.num_heads
    per = {
        "self_attn_proj": 4 * linear_flops(B * L, d, d),
        "self_attn_core": attention_flops(B, h, L, past_tokens + L, a.head_dim),
        "cross_attn_proj": 2 * linear_flops(B * L, d, d) + (2 * linear_flops(B * lt, d, d) if text_kv else 0),
        "cross_attn_core": attention_flops(B, h, L, lt, a.head_dim),
        "ffn": linear_flops(B * L, a.ffn_dim, d) + linear_flops(B * L, d, a.ffn_dim),
    }
    out = {k: v * a.num_layers for k, v in per.items()}
    patch = a.in_dim * 4
    out["other"] = (
        linear_flops(B * L, d, patch)  # patch embedding
        + linear_flops(B * lt, d, a.text_dim)
        + linear_flops(B * lt, d, d)  # text embedding
        + linear_flops(B * NF, d, a.freq_dim)
        + linear_flops(B * NF, d, d)  # time embedding
        + linear_flops(B * NF, 6 * d, d)  # time projection
        + linear_flops(B * L, a.out_dim * 4, d)
    )  # head
    return out


def test_cached_dit_forwards_match_the_hand_count_and_kv_bytes():
    with torch.device("meta"):
        model = CausalWanDiT(TINY).requires_grad_(False)
    cache = KVCache(TINY.num_layers, AttentionWindow())
    x = torch.zeros(B, TINY.in_dim, NF, HW, HW, device="meta")
    ctx = torch.zeros(B, TINY.text_len, TINY.text_dim, device="meta")
    t = torch.zeros(B, NF, device="meta")
    meter = KVTrafficMeter(model)
    first, _ = count_forward(lambda: model(x, t, ctx, cache=cache, start_frame=0, write_cache=True))
    second, _ = count_forward(lambda: model(x, t, ctx, cache=cache, start_frame=NF))
    traffic = meter.close()
    for got, want in ((first, _hand(TINY, 0, True)), (second, _hand(TINY, NF * 16, False))):
        assert set(got.by_kind) == set(DIT_KINDS)
        assert got.by_kind == want
        assert got.total == sum(want.values())
    L, per_token = NF * 16, B * TINY.dim * 4 * TINY.num_layers  # fp32 meta weights
    assert traffic.attended == 2 * L * per_token + 2 * (L + L) * per_token
    assert traffic.concat_copies == 2 * (2 * L + L) * per_token  # only the second forward has a past
    assert traffic.in_place_copies == 2 * (2 * L * per_token)  # each forward writes its chunk once


def test_backward_counts_the_input_gradient_of_a_frozen_linear():
    m, k, n = 5, 7, 3
    with torch.device("meta"):
        lin = nn.Linear(k, n).requires_grad_(False)
        x = torch.zeros(m, k, requires_grad=True)
    got = count_forward_backward(lambda: lin(x), lambda y: y.sum().backward())
    assert got.backward == linear_flops(m, k, n)  # dL/dx = dL/dy · W only: the weight is frozen
    assert got.total == 2 * linear_flops(m, n, k)
