"""The KV cache as it was before the in-place rewrite (h16), kept verbatim as the reference the in-place cache
must match bitwise: per-frame K/V in dicts, concatenated on every read, forks by reference."""

from __future__ import annotations

import torch

from plotline.executor.kv_cache import AttentionWindow


class LegacyKVCache:
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

    def write(
        self,
        layer: int,
        start_frame: int,
        k: torch.Tensor,
        v: torch.Tensor,
        num_frames: int,
        next_chunk_frames: int | None = None,
    ) -> None:
        """Store K/V [B, num_frames·T, H, d] of frames start_frame.. (overwriting), then drop the frames the next
        chunk (next_chunk_frames long, default num_frames) can no longer see."""
        per = k.shape[1] // num_frames
        store = self.frames[layer]
        for i in range(num_frames):
            store[start_frame + i] = (k[:, i * per : (i + 1) * per], v[:, i * per : (i + 1) * per])
        nxt = start_frame + num_frames
        span = num_frames if next_chunk_frames is None else next_chunk_frames
        for f in [f for f in store if not self.window.visible(f, nxt, nxt + span) and f < nxt]:
            del store[f]

    def reset_self(self, keep_sink: bool = False) -> None:
        """Forget cached frames (keeping the sink frames when keep_sink)."""
        for store in self.frames:
            for f in [f for f in store if not (keep_sink and f < self.window.sink_size)]:
                del store[f]

    def attend(self, layer, start_frame, num_frames, k, v, write_cache, next_chunk_frames=None):
        """The model's pre-h16 SelfAttention cache logic: concatenate the visible past with the chunk, then
        store the chunk's K/V (verbatim from model.py before the in-place cache)."""
        keys, values = k, v
        past = self.read(layer, start_frame, start_frame + num_frames)
        if past is not None:
            keys = torch.cat([past[0].to(k.dtype), k], 1)
            values = torch.cat([past[1].to(v.dtype), v], 1)
        if write_cache:
            self.write(layer, start_frame, k.detach(), v.detach(), num_frames, next_chunk_frames)
        return keys, values

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

    def fork(self, n: int, max_frames: int | None = None) -> LegacyKVCache:  # max_frames: no buffers to size
        """A cache whose batch holds n copies of each sample (sample-major); the source is left unchanged."""

        def rep(t: torch.Tensor) -> torch.Tensor:
            if t.shape[0] == 1:
                return t.expand(n, *t.shape[1:])
            return t.repeat_interleave(n, dim=0)

        out = LegacyKVCache(self.num_layers, self.window)
        out.frames = [{f: (rep(k), rep(v)) for f, (k, v) in store.items()} for store in self.frames]
        out.cross = [None if kv is None else (rep(kv[0]), rep(kv[1])) for kv in self.cross]
        out.prompt_index = self.prompt_index
        return out

    def select(self, index: int) -> LegacyKVCache:
        """A batch-1 cache holding only sample `index` of this one (e.g. the chosen candidate of a fork)."""

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t[index : index + 1] if t.shape[0] > 1 else t

        out = LegacyKVCache(self.num_layers, self.window)
        out.frames = [{f: (pick(k), pick(v)) for f, (k, v) in store.items()} for store in self.frames]
        out.cross = [None if kv is None else (pick(kv[0]), pick(kv[1])) for kv in self.cross]
        out.prompt_index = self.prompt_index
        return out

    def clone(self) -> LegacyKVCache:
        """An independent cache sharing the (never mutated in place) tensors."""
        out = LegacyKVCache(self.num_layers, self.window)
        out.frames = [dict(store) for store in self.frames]
        out.cross = list(self.cross)
        out.prompt_index = self.prompt_index
        return out
