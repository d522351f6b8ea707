"""FLOP and KV-byte accounting of the executor's work, counted by running the real code on the meta device under
torch.utils.flop_counter.FlopCounterMode (matmuls, convolutions and attention; element-wise ops count 0).

DiT forward FLOPs are split by layer kind from the counter's module hierarchy: self-attention core (q·kᵀ and
p·v, 4·Lq·Lk·d per head), self-attention projections (q, k, v, o), cross-attention core and projections, FFN,
and other (patch/time/text embeddings, head). Backward FLOPs are reported as a total only: the counter attributes
backward ops to modules unreliably.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

DIT_KINDS = ("self_attn_core", "self_attn_proj", "cross_attn_core", "cross_attn_proj", "ffn", "other")
"""Layer kinds of the DiT forward breakdown."""

_BLOCK = r"(?:^|\.)blocks\.\d+\."
_PATTERNS = {
    "self_attn": re.compile(_BLOCK + r"self_attn$"),
    "self_attn_proj": re.compile(_BLOCK + r"self_attn\.(?:q|k|v|o)$"),
    "cross_attn": re.compile(_BLOCK + r"cross_attn$"),
    "cross_attn_proj": re.compile(_BLOCK + r"cross_attn\.(?:q|k|v|o)$"),
    "ffn": re.compile(_BLOCK + r"ffn$"),
}


def _sum(counts: dict[str, dict], pattern: re.Pattern) -> int:
    return sum(sum(ops.values()) for name, ops in counts.items() if pattern.search(name))


def dit_breakdown(counts: dict[str, dict], total: int) -> dict[str, int]:
    """FLOPs per DiT layer kind (DIT_KINDS) from FlopCounterMode.get_flop_counts() of forwards only.

    Module counts are inclusive, so an attention core is its module's count minus its q/k/v/o children's;
    `other` is the total minus every block part."""
    out = {
        "self_attn_proj": _sum(counts, _PATTERNS["self_attn_proj"]),
        "cross_attn_proj": _sum(counts, _PATTERNS["cross_attn_proj"]),
        "ffn": _sum(counts, _PATTERNS["ffn"]),
    }
    out["self_attn_core"] = _sum(counts, _PATTERNS["self_attn"]) - out["self_attn_proj"]
    out["cross_attn_core"] = _sum(counts, _PATTERNS["cross_attn"]) - out["cross_attn_proj"]
    out["other"] = total - sum(out.values())
    return {k: out[k] for k in DIT_KINDS}


@dataclass
class KVTraffic:
    """K/V bytes of the self-attention caches over a piece of work.

    attended: K and V bytes the attention reads (past + chunk, every layer and forward; the unavoidable part).
    concat_copies: bytes a cache that concatenates the visible past with the chunk in every layer of every forward
        would move (read the past, write past + chunk, for K and V).
    in_place_copies: bytes the in-place cache actually moved (chunk writes, evictions, growth, fork copies),
        summed over the caches the work created.
    """

    attended: int = 0
    concat_copies: int = 0
    in_place_copies: int = 0


class KVTrafficMeter:
    """Records KVTraffic from a forward pre-hook on the DiT's first self-attention (every layer is alike)."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.traffic, self._caches = model, KVTraffic(), {}
        self._layers = model.arch.num_layers
        attn = model.blocks[0].self_attn
        self._handle = attn.register_forward_pre_hook(self._hook, with_kwargs=True)
        self._head_bytes = model.arch.dim * next(model.parameters()).element_size()

    def _hook(self, _module, args, kwargs):
        cache = kwargs.get("cache")
        if cache is None:
            return
        self._caches[id(cache)] = cache
        x = args[0]
        b, n = x.shape[0], x.shape[1]
        s, nf = kwargs["start_frame"], kwargs["num_frames"]
        past_frames = [f for f in cache.cached_frames if f < s and cache.window.visible(f, s, s + nf)]
        past = len(past_frames) * (n // nf)
        per_token = b * self._head_bytes * self._layers  # one of K or V, all layers
        self.traffic.attended += 2 * (past + n) * per_token
        if past:
            self.traffic.concat_copies += 2 * (2 * past + n) * per_token

    def close(self) -> KVTraffic:
        """Stop recording; returns the traffic with the caches' in-place copy bytes summed."""
        self._handle.remove()
        self.traffic.in_place_copies = sum(c.bytes_copied for c in self._caches.values())
        return self.traffic


@dataclass
class Count:
    """FLOPs of one piece of work: total, forward breakdown by kind (when counted), backward total."""

    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    backward: int = 0


def count_forward(fn, breakdown: bool = True) -> tuple[Count, object]:
    """Run fn() under FlopCounterMode (no backward); returns (Count, fn's result)."""
    with FlopCounterMode(display=False) as fc:
        out = fn()
    total = fc.get_total_flops()
    kinds = dit_breakdown(fc.get_flop_counts(), total) if breakdown else {}
    return Count(total, kinds, 0), out


def count_forward_backward(forward, backward) -> Count:
    """FLOPs of forward() (with its breakdown) and then backward(forward's result) counted apart."""
    fwd, out = count_forward(forward)
    with FlopCounterMode(display=False) as fc:
        backward(out)
    fwd.backward = fc.get_total_flops()
    fwd.total += fwd.backward
    return fwd


def merge(counts: list[Count]) -> Count:
    """Sum of several Counts (kind by kind)."""
    kinds: dict[str, int] = defaultdict(int)
    for c in counts:
        for k, v in c.by_kind.items():
            kinds[k] += v
    return Count(sum(c.total for c in counts), dict(kinds), sum(c.backward for c in counts))


def linear_flops(m: int, n: int, k: int) -> int:
    """2·m·n·k: an [m, k] × [k, n] matmul (one multiply and one add per term)."""
    return 2 * m * n * k


def attention_flops(batch: int, heads: int, lq: int, lk: int, head_dim: int) -> int:
    """4·Lq·Lk·d per head and sample: q·kᵀ (2·Lq·Lk·d) and softmax(·)·v (2·Lq·Lk·d)."""
    return 4 * batch * heads * lq * lk * head_dim
