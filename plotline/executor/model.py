"""Causal Wan2.1-style DiT: block-causal attention over chunks, per-frame timesteps, frame-offset 3D RoPE.

Parameter names follow the original Wan layout (patch_embedding, text_embedding.0/.2, time_embedding.0/.2,
time_projection.1, blocks.N.{self_attn,cross_attn}.{q,k,v,o,norm_q,norm_k}, blocks.N.norm3, blocks.N.ffn.0/.2,
blocks.N.modulation, head.head, head.modulation) so released state dicts load with strict=True.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plotline.executor.arch import DiTArch
from plotline.executor.checkpointing import call_block, checkpointed_block
from plotline.executor.fused import EAGER, Glue
from plotline.executor.kv_cache import AttentionWindow, KVCache, block_causal_mask
from plotline.executor.rope import grid_angles, rope_angles, rope_cos_sin, rotate


def sinusoidal_embedding(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[cos(p·ω_i), sin(p·ω_i)] with ω_i = 10000^(−i/(dim/2)), computed in float64 on the positions' device
    (Wan's time embedding)."""
    half = dim // 2
    pos = positions.to(torch.float64).flatten()
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=pos.device) / half)
    ang = torch.outer(pos, freqs)
    return torch.cat([torch.cos(ang), torch.sin(ang)], dim=1)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · weight (Wan's q/k norm)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the last dimension by its root mean square and scale."""
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (optionally without affine parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean)/sqrt(var + eps)·weight + bias in fp32 (input and affine weights cast to fp32), cast back to
        the input dtype, so a bf16 model normalises in fp32 without mixing dtypes."""
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).type_as(x)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ/√d) v for [B, L, H, d] tensors; mask [Lq, Lk] (True = attend)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return out.transpose(1, 2)


class SelfAttention(nn.Module):
    """Block-causal self-attention with RoPE; reads/writes the frame KV cache."""

    def __init__(self, arch: DiTArch):
        super().__init__()
        self.num_heads, self.head_dim = arch.num_heads, arch.head_dim
        self.q, self.k, self.v, self.o = (nn.Linear(arch.dim, arch.dim) for _ in range(4))
        self.norm_q = RMSNorm(arch.dim, arch.eps)
        self.norm_k = RMSNorm(arch.dim, arch.eps)

    def forward(
        self,
        x,
        angles,
        *,
        layer: int,
        cache: KVCache | None,
        start_frame: int,
        num_frames: int,
        write_cache: bool,
        mask: torch.Tensor | None,
        next_chunk_frames: int | None = None,
    ) -> torch.Tensor:
        """Attention of the chunk's tokens to (visible cached frames ∪ the chunk itself), or masked full attention.
        angles: the RoPE (cos, sin) fp32 tables [L, d/2] of the chunk's tokens."""
        b, n, _ = x.shape
        shape = (b, n, self.num_heads, self.head_dim)
        q = rotate(self.norm_q(self.q(x)).view(shape), *angles)
        k = rotate(self.norm_k(self.k(x)).view(shape), *angles)
        v = self.v(x).view(shape)
        keys, values = k, v
        if cache is not None:
            keys, values = cache.attend(layer, start_frame, num_frames, k, v, write_cache, next_chunk_frames)
        return self.o(_attend(q, keys, values, mask).flatten(2))


class CrossAttention(nn.Module):
    """Text cross-attention; text K/V are cached per prompt in KVCache.cross."""

    def __init__(self, arch: DiTArch):
        super().__init__()
        self.num_heads, self.head_dim = arch.num_heads, arch.head_dim
        self.q, self.k, self.v, self.o = (nn.Linear(arch.dim, arch.dim) for _ in range(4))
        self.norm_q = RMSNorm(arch.dim, arch.eps)
        self.norm_k = RMSNorm(arch.dim, arch.eps)

    def text_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K/V [B, Lt, H, d] of embedded text context [B, Lt, dim]."""
        b, lt, _ = context.shape
        k = self.norm_k(self.k(context)).view(b, lt, self.num_heads, self.head_dim)
        return k, self.v(context).view(b, lt, self.num_heads, self.head_dim)

    def forward(self, x, context, *, layer: int, cache: KVCache | None, frame_tokens: int) -> torch.Tensor:
        """x [B, L, dim] attends to context [B, Lt, dim], or per frame to context [B, F, Lt, dim]."""
        b, n, _ = x.shape
        q = self.norm_q(self.q(x))
        if context.dim() == 4:  # one prompt per frame (full recomputation with prompt switches)
            nf = context.shape[1]
            k, v = self.text_kv(context.flatten(0, 1))
            q = q.view(b * nf, frame_tokens, self.num_heads, self.head_dim)
            return self.o(_attend(q, k, v).reshape(b, n, -1))
        if cache is not None and cache.cross[layer] is not None:
            k, v = cache.cross[layer]
        else:
            k, v = self.text_kv(context)
            if cache is not None:
                cache.cross[layer] = (k.detach(), v.detach())
        q = q.view(b, n, self.num_heads, self.head_dim)
        return self.o(_attend(q, k.to(q.dtype), v.to(q.dtype)).flatten(2))


class Block(nn.Module):
    """One Wan attention block with per-frame AdaLN modulation (6 vectors); its element-wise glue comes from
    `glue` (plotline.executor.fused: eager by default, torch.compile'd behind executor.compile)."""

    glue: Glue = EAGER

    def __init__(self, arch: DiTArch):
        super().__init__()
        self.norm1 = LayerNorm(arch.dim, eps=arch.eps, elementwise_affine=False)
        self.self_attn = SelfAttention(arch)
        self.norm3 = (
            LayerNorm(arch.dim, eps=arch.eps, elementwise_affine=True) if arch.cross_attn_norm else nn.Identity()
        )
        self.cross_attn = CrossAttention(arch)
        self.norm2 = LayerNorm(arch.dim, eps=arch.eps, elementwise_affine=False)
        self.ffn = nn.Sequential(
            nn.Linear(arch.dim, arch.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(arch.ffn_dim, arch.dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, arch.dim) / arch.dim**0.5)

    def forward(
        self, x, e, context, angles, *, layer, cache, start_frame, num_frames, write_cache, mask, next_chunk_frames=None
    ):
        """x [B, F·T, dim]; e [B, F, 6, dim] time modulation per frame."""
        mod = (self.modulation.unsqueeze(1) + e).unbind(2)  # 6 × [B, F, dim]
        g, nf, eps = self.glue, num_frames, self.norm1.eps
        y = self.self_attn(
            g.norm_modulate(x, mod[0], mod[1], nf, eps),
            angles,
            layer=layer,
            cache=cache,
            start_frame=start_frame,
            num_frames=num_frames,
            write_cache=write_cache,
            mask=mask,
            next_chunk_frames=next_chunk_frames,
        )
        x = g.gated_residual(x, y, mod[2], nf)
        x = x + self.cross_attn(self.norm3(x), context, layer=layer, cache=cache, frame_tokens=x.shape[1] // nf)
        y = self.ffn(g.norm_modulate(x, mod[3], mod[4], nf, eps))
        return g.gated_residual(x, y, mod[5], nf)


class Head(nn.Module):
    """Output head: modulated LayerNorm then a linear map to patch pixels."""

    def __init__(self, arch: DiTArch):
        super().__init__()
        self.norm = LayerNorm(arch.dim, eps=arch.eps, elementwise_affine=False)
        self.head = nn.Linear(arch.dim, arch.out_dim * math.prod(arch.patch_size))
        self.modulation = nn.Parameter(torch.randn(1, 2, arch.dim) / arch.dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor, num_frames: int) -> torch.Tensor:
        """x [B, F·T, dim], e [B, F, dim] → patch outputs [B, F·T, out·prod(patch)]."""
        b, n, d = x.shape
        shift, scale = (self.modulation.unsqueeze(1) + e.unsqueeze(2)).unbind(2)
        xf = self.norm(x).view(b, num_frames, n // num_frames, d)
        return self.head((xf * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)).view(b, n, d))


ROPE_GRID_CACHE = 256
"""Most (device, start, length, grid) RoPE tables a model keeps (oldest dropped first)."""


class CausalWanDiT(nn.Module):
    """The executor's video transformer; predicts the flow velocity v = ε − x0 for a chunk of latent frames."""

    gradient_checkpointing: bool = False
    """Recompute each block in the backward pass instead of saving its activations (set by the RL update)."""

    def __init__(self, arch: DiTArch):
        super().__init__()
        self.arch = arch
        self.patch_embedding = nn.Conv3d(arch.in_dim, arch.dim, kernel_size=arch.patch_size, stride=arch.patch_size)
        self.text_embedding = nn.Sequential(
            nn.Linear(arch.text_dim, arch.dim), nn.GELU(approximate="tanh"), nn.Linear(arch.dim, arch.dim)
        )
        self.time_embedding = nn.Sequential(
            nn.Linear(arch.freq_dim, arch.dim), nn.SiLU(), nn.Linear(arch.dim, arch.dim)
        )
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(arch.dim, arch.dim * 6))
        self.blocks = nn.ModuleList(Block(arch) for _ in range(arch.num_layers))
        self.head = Head(arch)
        self._rope: dict[torch.device, tuple[torch.Tensor, ...]] = {}
        self._rope_grid: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def rope_tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """float64 RoPE angle tables on `device` (built once per device, never cast with the weights)."""
        device = torch.device(device)
        if device not in self._rope:
            self._rope[device] = rope_angles(
                self.arch.head_dim, self.arch.rope_max_positions, self.arch.rope_theta, device=device
            )
        return self._rope[device]

    def rope_grid(
        self, device: torch.device, frames: int, height: int, width: int, start_frame: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """fp32 (cos, sin) [frames·height·width, d/2] of the token grid starting at frame start_frame, cached on
        `device` per (start, length, grid): the denoising loop reuses them instead of rebuilding them per call."""
        key = (torch.device(device), frames, height, width, start_frame)
        if key not in self._rope_grid:
            if len(self._rope_grid) >= ROPE_GRID_CACHE:
                self._rope_grid.pop(next(iter(self._rope_grid)))
            self._rope_grid[key] = rope_cos_sin(
                grid_angles(self.rope_tables(device), frames, height, width, start_frame)
            )
        return self._rope_grid[key]

    def embed_text(self, context: torch.Tensor) -> torch.Tensor:
        """text_embedding of UMT5 states [.., Lt, text_dim], zero-padded/truncated to text_len tokens."""
        lt = context.shape[-2]
        if lt < self.arch.text_len:
            pad = context.new_zeros(*context.shape[:-2], self.arch.text_len - lt, context.shape[-1])
            context = torch.cat([context, pad], -2)
        return self.text_embedding(context[..., : self.arch.text_len, :])

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        *,
        cache: KVCache | None = None,
        start_frame: int = 0,
        write_cache: bool = False,
        chunk_frames: int | None = None,
        window: AttentionWindow | None = None,
        next_chunk_frames: int | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity (fp32) for latents x [B, C, F, H, W] at per-frame timesteps [B, F] (scale 0..1000).

        With a cache: x is one chunk starting at absolute frame start_frame; it attends to the visible cached
        frames and itself (write_cache stores its K/V; next_chunk_frames, default F, sizes the chunk that follows
        for the cache's eviction). Without a cache: full block-causal recomputation over
        all F frames (chunks of chunk_frames, visibility `window`, or an explicit boolean frame_mask [F, F] with
        True = query frame may attend to key frame); context may then be per frame [B, F, Lt, Dt].
        x (fp32 noise or latents) is cast to the weights' dtype here and the velocity returned in fp32, so the
        sampler's x̂0 and log-probs stay fp32 under a bf16 model. Every tensor made here lives on x's device.
        """
        arch = self.arch
        b, _, nf, h, w = x.shape
        pt, ph, pw = arch.patch_size
        gh, gw = h // ph, w // pw
        t = torch.as_tensor(timesteps, dtype=torch.float32, device=x.device)
        t = t.expand(b, nf) if t.dim() < 2 else t
        param_dtype = self.patch_embedding.weight.dtype
        tokens = self.patch_embedding(x.to(param_dtype)).flatten(2).transpose(1, 2)  # [B, F·gh·gw, dim]
        e = self.time_embedding(sinusoidal_embedding(arch.freq_dim, t).to(param_dtype)).view(b, nf, arch.dim)
        e6 = self.time_projection(e).view(b, nf, 6, arch.dim)
        ctx = self.embed_text(context.to(param_dtype))
        angles = self.rope_grid(x.device, nf, gh, gw, start_frame)
        mask = None
        if cache is None:
            if context.dim() == 4 and context.shape[1] != nf:
                raise ValueError(f"per-frame context has {context.shape[1]} frames, latents have {nf}")
            if frame_mask is not None:
                if frame_mask.shape != (nf, nf):
                    raise ValueError(f"frame_mask has shape {tuple(frame_mask.shape)}, expected ({nf}, {nf})")
                fm = frame_mask.to(device=x.device, dtype=torch.bool)
                mask = fm.repeat_interleave(gh * gw, 0).repeat_interleave(gh * gw, 1)
            else:
                mask = block_causal_mask(
                    nf, gh * gw, chunk_frames or nf, window or AttentionWindow(), start_frame, device=x.device
                )
        elif frame_mask is not None:
            raise ValueError("frame_mask is only supported for full recomputation (cache=None)")
        elif context.dim() == 4:
            raise ValueError("per-frame context is only supported for full recomputation (cache=None)")
        for i, block in enumerate(self.blocks):
            run = checkpointed_block if self.gradient_checkpointing and torch.is_grad_enabled() else call_block
            tokens = run(
                block,
                tokens,
                e6,
                ctx,
                angles,
                layer=i,
                cache=cache,
                start_frame=start_frame,
                num_frames=nf,
                write_cache=write_cache,
                mask=mask,
                next_chunk_frames=next_chunk_frames,
            )
        out = self.head(tokens, e, nf)  # [B, F·gh·gw, C·pt·ph·pw]
        out = out.view(b, nf, gh, gw, pt, ph, pw, arch.out_dim)
        return out.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, arch.out_dim, nf * pt, gh * ph, gw * pw).float()
