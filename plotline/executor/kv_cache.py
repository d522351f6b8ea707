"""KV cache of the causal DiT: per-frame self-attention K/V with attention sink + local window, and a
cross-attention (text) cache that is reset when the prompt switches. Forking copies references, not tensors."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AttentionWindow:
    """Which earlier frames a chunk may attend to, in Self-Forcing/LongLive's terms.

    local_attn_size: frames a chunk attends to in all, counting the sink and the chunk itself (upstream's
        `local_attn_size`, the size of its rolling KV buffer in frames); -1 means global attention (every earlier
        frame, Self-Forcing's default).
    sink_size: the first frames of the video, kept in the buffer when older frames are evicted (upstream's
        `sink_size`); part of local_attn_size. Ignored under global attention.

    Upstream's rolling buffer makes a chunk ending at frame e see every frame before e while e ≤ local_attn_size,
    and afterwards the sink [0, sink_size) plus the most recent local_attn_size − sink_size frames [e − (L − s), e).
    """

    local_attn_size: int = -1
    sink_size: int = 0

    def __post_init__(self) -> None:
        if self.sink_size < 0:
            raise ValueError(f"AttentionWindow.sink_size must be ≥ 0, got {self.sink_size}")
        if self.local_attn_size != -1 and self.local_attn_size <= self.sink_size:
            raise ValueError(f"AttentionWindow.local_attn_size must be -1 (global) or exceed sink_size="
                             f"{self.sink_size}, got {self.local_attn_size}")

    @property
    def is_global(self) -> bool:
        """True for global attention (local_attn_size = -1)."""
        return self.local_attn_size < 0

    def visible(self, key_frame: int, chunk_start: int, chunk_end: int) -> bool:
        """True when a query chunk covering [chunk_start, chunk_end) may attend to key_frame."""
        if key_frame >= chunk_end:
            return False
        if key_frame >= chunk_start or self.is_global:
            return True
        return key_frame < self.sink_size or key_frame >= chunk_end - (self.local_attn_size - self.sink_size)


def block_causal_mask(num_frames: int, frame_tokens: int, chunk_frames: int, window: AttentionWindow,
                      start_frame: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean [L, L] mask (True = attend) of full block-causal attention over chunks of chunk_frames frames.

    Frames carry absolute indices start_frame.. ; chunks are aligned to multiples of chunk_frames. Built on
    `device` (the device of the latents it masks).
    """
    frames = range(start_frame, start_frame + num_frames)
    rows = []
    for fq in frames:
        cs = (fq // chunk_frames) * chunk_frames
        rows.append([window.visible(fk, cs, cs + chunk_frames) for fk in frames])
    allowed = torch.tensor(rows, dtype=torch.bool, device=device)
    return allowed.repeat_interleave(frame_tokens, 0).repeat_interleave(frame_tokens, 1)


class KVCache:
    """Per-layer K/V of committed (clean) frames plus the per-layer text K/V of the current prompt."""

    def __init__(self, num_layers: int, window: AttentionWindow):
        self.num_layers = num_layers
        self.window = window
        self.frames: list[dict[int, tuple[torch.Tensor, torch.Tensor]]] = [{} for _ in range(num_layers)]
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.prompt_index: int | None = None  # span whose prompt the text K/V (and any re-cache) reflect

    # ----- self-attention -------------------------------------------------------------------------
    @property
    def cached_frames(self) -> list[int]:
        """Absolute indices of frames whose K/V are held (same for every layer)."""
        return sorted(self.frames[0]) if self.num_layers else []

    def read(self, layer: int, chunk_start: int, chunk_end: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Concatenated K/V [B, n, H, d] of the cached frames visible to chunk [chunk_start, chunk_end)."""
        store = self.frames[layer]
        keep = [f for f in sorted(store) if f < chunk_start and self.window.visible(f, chunk_start, chunk_end)]
        if not keep:
            return None
        return torch.cat([store[f][0] for f in keep], 1), torch.cat([store[f][1] for f in keep], 1)

    def write(self, layer: int, start_frame: int, k: torch.Tensor, v: torch.Tensor, num_frames: int,
              next_chunk_frames: int | None = None) -> None:
        """Store K/V [B, num_frames·T, H, d] of frames start_frame.. (overwriting), then drop the frames the next
        chunk (next_chunk_frames long, default num_frames) can no longer see."""
        per = k.shape[1] // num_frames
        store = self.frames[layer]
        for i in range(num_frames):
            store[start_frame + i] = (k[:, i * per:(i + 1) * per], v[:, i * per:(i + 1) * per])
        nxt = start_frame + num_frames
        span = num_frames if next_chunk_frames is None else next_chunk_frames
        for f in [f for f in store if not self.window.visible(f, nxt, nxt + span) and f < nxt]:
            del store[f]

    def reset_self(self, keep_sink: bool = False) -> None:
        """Forget cached frames (keeping the sink frames when keep_sink)."""
        for store in self.frames:
            for f in [f for f in store if not (keep_sink and f < self.window.sink_size)]:
                del store[f]

    # ----- cross-attention ------------------------------------------------------------------------
    def reset_cross(self) -> None:
        """Forget the text K/V (called at a prompt switch)."""
        self.cross = [None] * self.num_layers

    # ----- batching -------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int | None:
        """Batch size of the held tensors (None when empty)."""
        for store in self.frames:
            for k, _ in store.values():
                return k.shape[0]
        for kv in self.cross:
            if kv is not None:
                return kv[0].shape[0]
        return None

    def fork(self, n: int) -> "KVCache":
        """A cache whose batch holds n copies of each sample (sample-major); the source is left unchanged."""
        def rep(t: torch.Tensor) -> torch.Tensor:
            if t.shape[0] == 1:
                return t.expand(n, *t.shape[1:])
            return t.repeat_interleave(n, dim=0)
        out = KVCache(self.num_layers, self.window)
        out.frames = [{f: (rep(k), rep(v)) for f, (k, v) in store.items()} for store in self.frames]
        out.cross = [None if kv is None else (rep(kv[0]), rep(kv[1])) for kv in self.cross]
        out.prompt_index = self.prompt_index
        return out

    def select(self, index: int) -> "KVCache":
        """A batch-1 cache holding only sample `index` of this one (e.g. the chosen candidate of a fork)."""
        def pick(t: torch.Tensor) -> torch.Tensor:
            return t[index:index + 1] if t.shape[0] > 1 else t
        out = KVCache(self.num_layers, self.window)
        out.frames = [{f: (pick(k), pick(v)) for f, (k, v) in store.items()} for store in self.frames]
        out.cross = [None if kv is None else (pick(kv[0]), pick(kv[1])) for kv in self.cross]
        out.prompt_index = self.prompt_index
        return out

    def clone(self) -> "KVCache":
        """An independent cache sharing the (never mutated in place) tensors."""
        out = KVCache(self.num_layers, self.window)
        out.frames = [dict(store) for store in self.frames]
        out.cross = list(self.cross)
        out.prompt_index = self.prompt_index
        return out
