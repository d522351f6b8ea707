"""KV cache of the causal DiT: per-frame self-attention K/V with attention sink + local window, and a
cross-attention (text) cache that is reset when the prompt switches.

The self-attention K/V of each layer live in one preallocated buffer [B, capacity·T, H, d] holding the cached
frames in ascending order, contiguous from slot 0. A chunk's K/V are written into the slots right after them in
place, and attention reads one view [first visible slot, last slot + chunk) of that buffer — no concatenation of
the past per layer and forward. Window eviction compacts the buffer once per commit (the sink stays in front).
When the cache knows how many frames the video holds (`max_frames`: the prefix length, or the whole video for a
fork), each buffer is allocated once at its final size: max_frames slots under global attention, and
min(max_frames, local_attn_size) under a window (the held frames plus one chunk never exceed the window). Without
it a buffer starts at two chunks (a window plus one chunk) and grows by doubling.
Reads that are not one contiguous run (never in the generator's own paths) and forwards that need gradients through
the chunk's K/V fall back to concatenation, with the same values in the same order, so outputs are bitwise those of
a concatenating cache."""

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
            raise ValueError(
                f"AttentionWindow.local_attn_size must be -1 (global) or exceed sink_size="
                f"{self.sink_size}, got {self.local_attn_size}"
            )

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


def block_causal_mask(
    num_frames: int,
    frame_tokens: int,
    chunk_frames: int,
    window: AttentionWindow,
    start_frame: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
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


class _Box:
    """Whether a K/V buffer is visible to more than one cache (then it is copied before it is changed in place)."""

    __slots__ = ("shared",)

    def __init__(self, shared: bool = False):
        self.shared = shared


class _LayerKV:
    """One layer's self-attention K/V: buffer k, v [B, capacity·T, H, d]; frames[i] is the absolute index of the
    frame in slot i (ascending); T tokens per frame; box says whether the buffer is shared."""

    __slots__ = ("k", "v", "frames", "tokens", "box", "pending")

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.frames: list[int] = []
        self.tokens: int = 0
        self.box = _Box()
        self.pending: tuple[int, int] | None = None  # (next chunk start, its length): eviction not yet applied

    @property
    def capacity(self) -> int:
        """Frame slots the buffer holds."""
        return 0 if self.k is None else self.k.shape[1] // max(self.tokens, 1)

    def slot_view(self, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """K/V views of slots [a, b)."""
        t = self.tokens
        return self.k[:, a * t : b * t], self.v[:, a * t : b * t]

    def reallocate(self, capacity: int, like: torch.Tensor | None = None) -> int:
        """Move the held slots into a new private buffer of `capacity` frame slots (copy of the used part only);
        returns the bytes copied."""
        src = self.k if like is None else like
        n = len(self.frames)
        shape = (src.shape[0], capacity * self.tokens, *src.shape[2:])
        k = torch.empty(shape, dtype=src.dtype, device=src.device)
        v = torch.empty(shape, dtype=src.dtype, device=src.device)
        if n and self.k is not None:
            ok, ov = self.slot_view(0, n)
            k[:, : n * self.tokens].copy_(ok)
            v[:, : n * self.tokens].copy_(ov)
        self.k, self.v, self.box = k, v, _Box()
        return 2 * n * self.tokens * k[:, :1].numel() * k.element_size()


class KVCache:
    """Per-layer K/V of committed (clean) frames (in place, see the module docstring) plus the per-layer text K/V
    of the current prompt."""

    def __init__(self, num_layers: int, window: AttentionWindow, max_frames: int | None = None):
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"KVCache.max_frames must be ≥ 1 (frames of the video) or None, got {max_frames}")
        self.num_layers = num_layers
        self.window = window
        self.max_frames = max_frames  # frames the video can hold (sizes the buffers up front); None: grow
        self.layers = [_LayerKV() for _ in range(num_layers)]
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.prompt_index: int | None = None  # span whose prompt the text K/V (and any re-cache) reflect
        self.bytes_copied = 0  # K/V bytes moved by appends, compactions, growth and fallbacks (for the benchmarks)

    # ----- bookkeeping ----------------------------------------------------------------------------
    def slots_needed(self) -> int | None:
        """Frame slots a buffer needs for the whole video: max_frames under global attention, at most
        local_attn_size under a window (held frames ≤ window − chunk before a chunk is written); None when
        max_frames is unknown."""
        if self.max_frames is None:
            return None
        return self.max_frames if self.window.is_global else min(self.max_frames, self.window.local_attn_size)

    @property
    def buffer_bytes(self) -> int:
        """Bytes of the self-attention K/V buffers allocated by this cache (shared buffers counted once each)."""
        seen, total = set(), 0
        for st in self.layers:
            for t in (st.k, st.v):
                if t is not None and id(t.untyped_storage()) not in seen:
                    seen.add(id(t.untyped_storage()))
                    total += t.numel() * t.element_size()
        return total

    def _settle(self, layer: int) -> _LayerKV:
        """Apply a pending eviction (drop the frames the next chunk cannot see, compacting the buffer)."""
        st = self.layers[layer]
        if st.pending is None:
            return st
        nxt, span = st.pending
        st.pending = None
        keep = [i for i, f in enumerate(st.frames) if f >= nxt or self.window.visible(f, nxt, nxt + span)]
        if len(keep) == len(st.frames):
            return st
        first = next((j for j, i in enumerate(keep) if i != j), len(keep))  # slots before it stay where they are
        if st.box.shared:
            self.bytes_copied += st.reallocate(st.capacity)
        t = st.tokens
        if first < len(keep):
            idx = torch.cat([torch.arange(i * t, (i + 1) * t, device=st.k.device) for i in keep[first:]])
            moved_k, moved_v = st.k.index_select(1, idx), st.v.index_select(1, idx)
            st.k[:, first * t : len(keep) * t].copy_(moved_k)
            st.v[:, first * t : len(keep) * t].copy_(moved_v)
            self.bytes_copied += 2 * moved_k.numel() * moved_k.element_size()
        st.frames = [st.frames[i] for i in keep]
        return st

    def _settle_all(self) -> None:
        for i in range(self.num_layers):
            self._settle(i)

    def _append(self, st: _LayerKV, k: torch.Tensor, v: torch.Tensor, num_frames: int, commit: bool = True) -> int:
        """Write k, v [B, num_frames·T, H, d] into the slots after the held frames (growing the buffer first when
        needed, and un-sharing it for a commit); returns the first written slot. An uncommitted (scratch) write
        may go into a shared buffer: the slots after the held frames belong to no cache sharing it."""
        n = len(st.frames)
        if st.k is None:
            st.tokens = k.shape[1] // num_frames
            st.frames = []
            cap = self.slots_needed()
            if cap is None:
                cap = num_frames * 2 if self.window.is_global else self.window.local_attn_size + num_frames
            st.reallocate(max(cap, num_frames), like=k)
        elif n + num_frames > st.capacity:
            self.bytes_copied += st.reallocate(max(n + num_frames, 2 * st.capacity))
        elif commit and st.box.shared:
            self.bytes_copied += st.reallocate(st.capacity)
        t = st.tokens
        st.k[:, n * t : (n + num_frames) * t].copy_(k)
        st.v[:, n * t : (n + num_frames) * t].copy_(v)
        self.bytes_copied += 2 * k.numel() * k.element_size()
        return n

    def _fits(self, st: _LayerKV, k: torch.Tensor, num_frames: int) -> bool:
        """True when k can go into st's buffer in place (same batch, dtype, device and tokens per frame)."""
        if k.shape[1] % num_frames:
            return False
        if st.k is None:
            return not st.frames
        return (
            st.k.shape[0] == k.shape[0]
            and st.k.dtype == k.dtype
            and st.k.device == k.device
            and st.k.shape[2:] == k.shape[2:]
            and st.tokens == k.shape[1] // num_frames
        )

    # ----- self-attention -------------------------------------------------------------------------
    @property
    def cached_frames(self) -> list[int]:
        """Absolute indices of frames whose K/V are held (same for every layer)."""
        if not self.num_layers:
            return []
        return sorted(self._settle(0).frames)

    @property
    def frames(self) -> list[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
        """Per layer, {frame: (K, V) views [B, T, H, d]} of the held frames (read-only views into the buffers)."""
        out = []
        for i in range(self.num_layers):
            st = self._settle(i)
            out.append({f: st.slot_view(j, j + 1) for j, f in enumerate(st.frames)})
        return out

    def _visible_slots(self, st: _LayerKV, chunk_start: int, chunk_end: int) -> list[int]:
        return [
            j for j, f in enumerate(st.frames) if f < chunk_start and self.window.visible(f, chunk_start, chunk_end)
        ]

    def _gather(self, st: _LayerKV, slots: list[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """K/V of the given slots in order: one view when they are a contiguous run, else a concatenation."""
        if not slots:
            return None
        if slots == list(range(slots[0], slots[-1] + 1)):
            return st.slot_view(slots[0], slots[-1] + 1)
        parts = [st.slot_view(j, j + 1) for j in slots]
        out = torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)
        self.bytes_copied += 2 * out[0].numel() * out[0].element_size()
        return out

    def read(self, layer: int, chunk_start: int, chunk_end: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """K/V [B, n, H, d] of the cached frames visible to chunk [chunk_start, chunk_end), in frame order."""
        st = self._settle(layer)
        return self._gather(st, self._visible_slots(st, chunk_start, chunk_end))

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
        st = self._settle(layer)
        new = list(range(start_frame, start_frame + num_frames))
        if self._fits(st, k, num_frames) and all(f < start_frame for f in st.frames):
            self._append(st, k, v, num_frames)
            st.frames = st.frames + new
        else:  # general case (overwrites, out-of-order frames, other shapes): rebuild in frame order
            per = k.shape[1] // num_frames
            store = {f: st.slot_view(j, j + 1) for j, f in enumerate(st.frames)} if st.k is not None else {}
            for i, f in enumerate(new):
                store[f] = (k[:, i * per : (i + 1) * per], v[:, i * per : (i + 1) * per])
            order = sorted(store)
            ks = torch.cat([store[f][0] for f in order], 1)
            vs = torch.cat([store[f][1] for f in order], 1)
            self.bytes_copied += 2 * ks.numel() * ks.element_size()
            fresh = _LayerKV()
            fresh.k, fresh.v, fresh.tokens, fresh.frames = ks, vs, per, order
            self.layers[layer] = st = fresh
        st.pending = (start_frame + num_frames, num_frames if next_chunk_frames is None else next_chunk_frames)

    def attend(
        self,
        layer: int,
        start_frame: int,
        num_frames: int,
        k: torch.Tensor,
        v: torch.Tensor,
        write_cache: bool,
        next_chunk_frames: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values [B, n_visible·T + L, H, d] for a chunk's self-attention: the visible cached frames in
        frame order followed by the chunk's own k, v [B, L, H, d]; with write_cache the chunk's K/V are committed.

        In place when possible: the chunk's K/V go into the slots after the held frames and the result is one view
        of the buffer. Under autograd (k or v requires grad) the past is concatenated with k, v instead, so the
        graph never holds a buffer that later writes change."""
        st = self._settle(layer)
        chunk_end = start_frame + num_frames
        slots = self._visible_slots(st, start_frame, chunk_end)
        n = len(st.frames)
        tracked = torch.is_grad_enabled() and (k.requires_grad or v.requires_grad)
        in_place = (
            not tracked
            and self._fits(st, k, num_frames)
            and all(f < start_frame for f in st.frames)
            and (not slots or slots == list(range(slots[0], n)))
        )
        if in_place:
            first = self._append(st, k, v, num_frames, commit=write_cache)
            lo = slots[0] if slots else first
            keys, values = st.slot_view(lo, first + num_frames)
            if write_cache:
                st.frames = st.frames + list(range(start_frame, chunk_end))
                st.pending = (chunk_end, num_frames if next_chunk_frames is None else next_chunk_frames)
            return keys, values
        past = self._gather(st, slots)
        keys, values = k, v
        if past is not None:
            keys = torch.cat([past[0].to(k.dtype), k], 1)
            values = torch.cat([past[1].to(v.dtype), v], 1)
            self.bytes_copied += 2 * keys.numel() * keys.element_size()
        if write_cache:
            self.write(layer, start_frame, k.detach(), v.detach(), num_frames, next_chunk_frames)
        return keys, values

    def reset_self(self, keep_sink: bool = False) -> None:
        """Forget cached frames (keeping the sink frames when keep_sink); the buffers are kept for reuse."""
        for i in range(self.num_layers):
            st = self._settle(i)
            keep = [j for j, f in enumerate(st.frames) if keep_sink and f < self.window.sink_size]
            if keep != list(range(len(keep))):  # cannot happen: slots hold frames in ascending order
                raise RuntimeError(f"layer {i}: sink frames are not the first cached slots {st.frames}")
            st.frames = st.frames[: len(keep)]

    # ----- cross-attention ------------------------------------------------------------------------
    def reset_cross(self) -> None:
        """Forget the text K/V (called at a prompt switch)."""
        self.cross = [None] * self.num_layers

    # ----- batching -------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int | None:
        """Batch size of the held tensors (None when empty)."""
        for st in self.layers:
            if st.k is not None and st.frames:
                return st.k.shape[0]
        for kv in self.cross:
            if kv is not None:
                return kv[0].shape[0]
        return None

    def _derived(self, max_frames: int | None = None) -> KVCache:
        out = KVCache(self.num_layers, self.window, self.max_frames if max_frames is None else max_frames)
        out.prompt_index = self.prompt_index
        return out

    def fork(self, n: int, max_frames: int | None = None) -> KVCache:
        """A cache whose batch holds n copies of each sample (sample-major); the source is left unchanged.

        The fork gets its own buffers: the held prefix is copied once into them (n rows per sample), and the
        continuations' slots follow it; the source's buffers are only read. Text K/V are shared as views.
        max_frames: frames of the whole video the continuations extend the prefix to (default: this cache's); it
        sizes the fork's buffers once (see the module docstring)."""

        def rep(t: torch.Tensor) -> torch.Tensor:
            if t.shape[0] == 1:
                return t.expand(n, *t.shape[1:])
            return t.repeat_interleave(n, dim=0)

        out = self._derived(max_frames)
        slots = out.slots_needed()
        for i in range(self.num_layers):
            st, dst = self._settle(i), out.layers[i]
            if st.k is None:
                continue
            used = len(st.frames)
            dst.tokens, dst.frames = st.tokens, list(st.frames)
            k, v = st.slot_view(0, used)
            cap = max(st.capacity, used + 1) if slots is None else max(slots, used)
            shape = (k.shape[0] * n, cap * st.tokens, *k.shape[2:])
            dst.k = torch.empty(shape, dtype=k.dtype, device=k.device)
            dst.v = torch.empty(shape, dtype=k.dtype, device=k.device)
            dst.k[:, : used * st.tokens].copy_(rep(k))
            dst.v[:, : used * st.tokens].copy_(rep(v))
            out.bytes_copied += 2 * n * k.numel() * k.element_size()
        out.cross = [None if kv is None else (rep(kv[0]), rep(kv[1])) for kv in self.cross]
        return out

    def _share(self, pick) -> KVCache:
        out = self._derived()
        for i in range(self.num_layers):
            st, dst = self._settle(i), out.layers[i]
            if st.k is None:
                continue
            st.box.shared = True
            dst.k, dst.v, dst.tokens, dst.frames, dst.box = pick(st.k), pick(st.v), st.tokens, list(st.frames), st.box
        out.cross = [None if kv is None else (pick(kv[0]), pick(kv[1])) for kv in self.cross]
        return out

    def select(self, index: int) -> KVCache:
        """A batch-1 cache holding only sample `index` of this one (e.g. the chosen candidate of a fork); it shares
        the buffers until either side commits (copy on write)."""
        return self._share(lambda t: t[index : index + 1] if t.shape[0] > 1 else t)

    def clone(self) -> KVCache:
        """An independent cache sharing the buffers until either side commits or evicts (copy on write)."""
        return self._share(lambda t: t)
