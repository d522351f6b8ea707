"""Chunk-by-chunk generation with the KV cache: few-step stochastic denoising of each chunk, a clean pass that
writes its K/V, and prompt switches (cross-attention reset, optional LongLive re-cache)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.model import CausalWanDiT
from plotline.executor.prompts import frame_prompt_index
from plotline.executor.sampler import predict_x0, step_logprob, stochastic_step
from plotline.executor.schedule import model_timestep


@dataclass
class ChunkTrajectory:
    """Denoising trajectory of one chunk for a batch: what Flow-GRPO needs to recompute log-probs.

    states: x_t fed to the model at each step [B, S, C, f, h, w]; states[:, i+1] is the sample of transition i.
    velocities: v_old at each step [B, S, C, f, h, w]; logprobs: fp32 log π of each stochastic transition
    [B, S−1]; sigmas: σ of each step [S] (σ' of transition i is sigmas[i+1]); start_frame: chunk's first frame.
    """

    states: torch.Tensor
    velocities: torch.Tensor
    logprobs: torch.Tensor
    sigmas: torch.Tensor
    start_frame: int


class ChunkGenerator:
    """Runs the DiT chunk by chunk over a KV cache."""

    def __init__(
        self,
        model: CausalWanDiT,
        sigmas: torch.Tensor,
        window: AttentionWindow,
        chunk_frames: int,
        recache_on_switch: bool,
        context_timestep: float = 0.0,
        recache_mode: str = "chunked",
    ):
        if recache_mode not in RECACHE_MODES:
            raise ValueError(f"unknown recache_mode {recache_mode!r}; known: {', '.join(sorted(RECACHE_MODES))}")
        if not window.is_global and window.local_attn_size - window.sink_size < chunk_frames:
            raise ValueError(
                f"local_attn_size={window.local_attn_size} leaves {window.local_attn_size - window.sink_size}"
                f" frames beside the sink (sink_size={window.sink_size}), fewer than one chunk "
                f"({chunk_frames} frames)"
            )
        self.model, self.sigmas, self.window = model, sigmas, window
        self.chunk_frames, self.recache_on_switch = chunk_frames, recache_on_switch
        self.context_timestep = context_timestep
        self.recache_mode = recache_mode

    def new_cache(self, max_frames: int | None = None) -> KVCache:
        """An empty cache with this generator's sink/window; max_frames (frames it will hold, when known) sizes
        its buffers once instead of growing them."""
        return KVCache(self.model.arch.num_layers, self.window, max_frames)

    @property
    def device(self) -> torch.device:
        """Device of the DiT's weights: where noise, timesteps and contexts must live."""
        return next(self.model.parameters()).device

    def _t(self, batch: int, frames: int, value) -> torch.Tensor:
        return model_timestep(float(value)).to(device=self.device, dtype=torch.float32).expand(batch, frames)

    @torch.no_grad()
    def denoise_chunk(
        self, cache: KVCache, context: torch.Tensor, start_frame: int, noise: torch.Tensor, record: bool = False
    ) -> tuple[torch.Tensor, ChunkTrajectory | None]:
        """Denoise one chunk from noise[0] with fresh ε = noise[i] per transition (Eq. x_{t'} = (1−σ')x̂0 + σ'ε).

        noise: [S, B, C, f, h, w]. Returns the clean chunk x̂0 of the last step and, when record, its trajectory.
        """
        x = noise[0]
        b, f = x.shape[0], x.shape[2]
        states, vels, logps = [], [], []
        n = len(self.sigmas)
        for i in range(n):
            sigma = float(self.sigmas[i])
            v = self.model(x, self._t(b, f, sigma), context, cache=cache, start_frame=start_frame)
            if record:
                states.append(x)
                vels.append(v)
            if i == n - 1:
                x = predict_x0(x, v, sigma)
                break
            sigma_next = float(self.sigmas[i + 1])
            x_next = stochastic_step(x, v, sigma, sigma_next, noise[i + 1])
            if record:
                logps.append(step_logprob(x, v, x_next, sigma, sigma_next))
            x = x_next
        traj = None
        if record:
            traj = ChunkTrajectory(
                torch.stack(states, 1), torch.stack(vels, 1), torch.stack(logps, 1), self.sigmas.clone(), start_frame
            )
        return x, traj

    @torch.no_grad()
    def commit_chunk(self, cache: KVCache, clean: torch.Tensor, context: torch.Tensor, start_frame: int) -> None:
        """Clean pass: run the finished chunk at the context timestep and write its K/V into the cache."""
        b, _, f = clean.shape[:3]
        self.model(
            clean,
            self._t(b, f, self.context_timestep / 1000.0),
            context,
            cache=cache,
            start_frame=start_frame,
            write_cache=True,
        )

    @torch.no_grad()
    def enter_span(
        self, cache: KVCache, index: int, context: torch.Tensor, history: torch.Tensor | None, at_frame: int
    ) -> None:
        """Make the cache condition on span `index`: at a switch reset the text K/V and, when re-caching,
        re-run the recent clean frames history[:, :, r0:at_frame] under the new prompt (LongLive)."""
        previous = cache.prompt_index
        cache.prompt_index = index
        if previous is None or previous == index:
            return
        cache.reset_cross()
        if not self.recache_on_switch or at_frame == 0 or history is None:
            return
        RECACHE_MODES[self.recache_mode](self, cache, context, history, at_frame)

    @torch.no_grad()
    def run(
        self,
        cache: KVCache,
        contexts: list[torch.Tensor],
        starts: list[int],
        first_frame: int,
        end_frame: int,
        noise_for_chunk,
        history: torch.Tensor | None = None,
        record_first: bool = False,
        commit_last: bool = False,
    ) -> tuple[torch.Tensor, ChunkTrajectory | None]:
        """Generate frames [first_frame, end_frame) chunk by chunk; span j uses contexts[j] (starts = span starts).

        noise_for_chunk(chunk_index) → [S, B, C, f, h, w]; history holds the clean frames before first_frame
        (needed for a re-cache). Returns the new clean frames [B, C, end−first, h, w] and, when record_first,
        the trajectory of the first generated chunk. commit_last also writes the final chunk's K/V (a prefix).
        """
        if first_frame % self.chunk_frames:
            raise ValueError(f"generation must start on a chunk boundary, got frame {first_frame}")
        out: list[torch.Tensor] = []
        traj = None
        for s in range(first_frame, end_frame, self.chunk_frames):
            e = min(s + self.chunk_frames, end_frame)
            idx = frame_prompt_index(starts, s)
            if frame_prompt_index(starts, e - 1) != idx:
                raise ValueError(f"chunk [{s}, {e}) straddles a span boundary {starts}")
            done = torch.cat([history] + out, 2) if history is not None else (torch.cat(out, 2) if out else None)
            self.enter_span(cache, idx, contexts[idx], done, s)
            noise = noise_for_chunk(s // self.chunk_frames)[:, :, :, : e - s]
            clean, t = self.denoise_chunk(cache, contexts[idx], s, noise, record=record_first and s == first_frame)
            traj = t if t is not None else traj
            out.append(clean)
            if e < end_frame or commit_last:
                self.commit_chunk(cache, clean, contexts[idx], s)
        return torch.cat(out, 2), traj


def recache_chunked(
    gen: ChunkGenerator, cache: KVCache, context: torch.Tensor, history: torch.Tensor, at_frame: int
) -> None:
    """Chunk-by-chunk re-cache: re-commit the chunks covering the most recent local_attn_size − sink_size frames
    (all frames under global attention) under the new prompt, each chunk block-causal over the re-committed
    ones before it; the sink keeps its K/V when it lies before them."""
    w = gen.window
    span = at_frame if w.is_global else min(w.local_attn_size - w.sink_size, at_frame)
    r0 = ((at_frame - span) // gen.chunk_frames) * gen.chunk_frames
    cache.reset_self(keep_sink=r0 > 0)
    for s in range(r0, at_frame, gen.chunk_frames):
        e = min(s + gen.chunk_frames, at_frame)
        gen.commit_chunk(cache, history[:, :, s:e], context, s)


def recache_one_pass(
    gen: ChunkGenerator, cache: KVCache, context: torch.Tensor, history: torch.Tensor, at_frame: int
) -> None:
    """LongLive's re-cache (`_recache_after_switch`, global_sink): re-encode the most recent
    n = min(local_attn_size, k) frames [k − n, k) (n = k under global attention) under the new prompt in one clean
    forward at their absolute RoPE positions. The re-encoded frames attend densely to each other (LongLive's
    cached path applies no block mask) and to the sink. When k − n > 0 the sink frames [0, sink_size) keep their
    cached K/V (LongLive protects the sink during a recompute), so frames [k − n, k − n + sink_size) — whose
    K/V would land on the sink slots and be discarded — are skipped: only [k − (n − sink_size), k) are re-run."""
    w = gen.window
    n = at_frame if w.is_global else min(w.local_attn_size, at_frame)
    r0 = at_frame - n
    keep_sink = r0 > 0 and w.sink_size > 0
    first = r0 + w.sink_size if keep_sink else r0
    cache.reset_self(keep_sink=keep_sink)
    frames = history[:, :, first:at_frame]
    b, _, f = frames.shape[:3]
    gen.model(
        frames,
        gen._t(b, f, gen.context_timestep / 1000.0),
        context,
        cache=cache,
        start_frame=first,
        write_cache=True,
        next_chunk_frames=gen.chunk_frames,
    )


RECACHE_MODES = {"chunked": recache_chunked, "one_pass": recache_one_pass}
"""Re-cache implementations by name (executor.recache_mode / Backbone.recache_mode)."""


@torch.no_grad()
def cache_from_latents(
    gen: ChunkGenerator, latents: torch.Tensor, contexts: list[torch.Tensor], starts: list[int]
) -> KVCache:
    """Rebuild the cache of clean frames latents [B, C, k, h, w] with the current weights (clean passes chunk by
    chunk under each chunk's span prompt), then enter the span of frame k as the rollout did before forking."""
    k = latents.shape[2]
    cache = gen.new_cache(max_frames=k + gen.chunk_frames)  # the prefix and the one chunk run after it
    for s in range(0, k, gen.chunk_frames):
        idx = frame_prompt_index(starts, s)
        gen.enter_span(cache, idx, contexts[idx], latents[:, :, :s], s)
        gen.commit_chunk(cache, latents[:, :, s : s + gen.chunk_frames], contexts[idx], s)
    idx = frame_prompt_index(starts, k)
    gen.enter_span(cache, idx, contexts[idx], latents, k)
    return cache
