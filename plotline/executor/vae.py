"""Latent → RGB decoders: diffusers AutoencoderKLWan from a local path, a tiny random one, or an identity map.

A fork's N videos share their first k latent frames. `decode_rollout` decodes that prefix once and continues each
video from the prefix's decoder state: the Wan VAE decodes causally, one latent frame at a time over a per-conv
cache of the previous frames' features, so the prefix's cache forked N ways is what a full decode of each video
holds at frame k. Decoders without a causal state decode the whole videos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class DecodeState:
    """A causal decoder's state after some latent frames: feat the per-conv feature cache (tensors [B, ...],
    None or upstream's "Rep" marker), frames the latent frames decoded so far."""

    feat: list
    frames: int

    def fork(self, n: int) -> DecodeState:
        """The state with each sample repeated n times (sample-major), as KVCache.fork orders a batch."""

        def rep(t):
            if not isinstance(t, torch.Tensor):
                return t
            return t.expand(n, *t.shape[1:]).contiguous() if t.shape[0] == 1 else t.repeat_interleave(n, 0)

        return DecodeState([rep(t) for t in self.feat], self.frames)


def decode_rollout(decoder: nn.Module, prefix: torch.Tensor, continuations: torch.Tensor) -> torch.Tensor:
    """Frames [N, T, H, W, 3] of the N videos prefix [1, C, k, h, w] + continuations [N, C, K−k, h, w].

    With a decoder that has `decode_fork` the prefix is decoded once and only the new frames per continuation;
    otherwise the N whole videos are decoded (the reference path)."""
    n = continuations.shape[0]
    if hasattr(decoder, "decode_fork") and decoder.supports_fork():
        return decoder.decode_fork(prefix, continuations)
    return decoder(torch.cat([prefix.expand(n, *prefix.shape[1:]), continuations], 2))


class IdentityDecoder(nn.Module):
    """Frames from the first three latent channels: rgb = sigmoid(z[:3]), upsampled `scale`× (one frame each)."""

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    @torch.no_grad()
    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """latents [B, C, F, h, w] → frames in [0, 1] as [B, F, h·s, w·s, 3]."""
        rgb = torch.sigmoid(latents[:, :3].float())
        if rgb.shape[1] < 3:
            rgb = rgb.repeat(1, 3, 1, 1, 1)[:, :3]
        rgb = rgb.repeat_interleave(self.scale, -1).repeat_interleave(self.scale, -2)
        return rgb.permute(0, 2, 3, 4, 1)

    def supports_fork(self) -> bool:
        """Always: each frame is decoded on its own."""
        return True

    @torch.no_grad()
    def decode_fork(self, prefix: torch.Tensor, continuations: torch.Tensor) -> torch.Tensor:
        """Frames of prefix + each continuation, the prefix decoded once (frames are independent)."""
        n = continuations.shape[0]
        head = self(prefix)
        return torch.cat([head.expand(n, *head.shape[1:]), self(continuations)], 1)


class WanDecoder(nn.Module):
    """AutoencoderKLWan decode of normalised latents (z·std + mean) → frames in [0, 1] as [B, T, H, W, 3]."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, vae: Any):  # a diffusers AutoencoderKLWan (its .config and .decode are untyped)
        super().__init__()
        self.vae = vae.eval().requires_grad_(False)
        cfg = vae.config
        self.register_buffer("mean", torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode latents [B, C, F, h, w] (1 + 4(F−1) frames for the real VAE)."""
        z = latents.to(self.mean.dtype) * self.std + self.mean
        video = self.vae.decode(z.to(self.vae.dtype)).sample  # [B, 3, T, H, W] in [-1, 1]
        return self._frames(video)

    @staticmethod
    def _frames(video: torch.Tensor) -> torch.Tensor:
        return ((video.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1)

    def supports_fork(self) -> bool:
        """True unless the VAE decodes in spatial tiles (each tile restarts the causal cache)."""
        return not getattr(self.vae, "use_tiling", False)

    @torch.no_grad()
    def decode_stream(
        self, latents: torch.Tensor, state: DecodeState | None = None
    ) -> tuple[torch.Tensor, DecodeState]:
        """Decode latents [B, C, F, h, w] that follow `state` (None: the start of a video) → (frames in [0, 1]
        [B, T, H, W, 3], the state after them). The same per-frame causal loop as AutoencoderKLWan._decode (the
        first latent frame gives 1 frame, each later one 4), so decoding a video in pieces gives its full decode."""
        vae = self.vae
        z = latents.to(self.mean.dtype) * self.std + self.mean
        x = vae.post_quant_conv(z.to(vae.dtype))
        if state is None:
            state = DecodeState([None] * vae._cached_conv_counts["decoder"], 0)
        feat = list(state.feat)
        outs = []
        for i in range(x.shape[2]):
            first = state.frames == 0 and i == 0
            outs.append(vae.decoder(x[:, :, i : i + 1], feat_cache=feat, feat_idx=[0], first_chunk=first))
        out = torch.cat(outs, 2)
        if vae.config.patch_size is not None:
            from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

            out = unpatchify(out, patch_size=vae.config.patch_size)
        return self._frames(out), DecodeState(feat, state.frames + x.shape[2])

    @torch.no_grad()
    def decode_fork(self, prefix: torch.Tensor, continuations: torch.Tensor) -> torch.Tensor:
        """Frames of prefix [1, C, k, h, w] + each continuation [N, C, K−k, h, w]: the prefix decoded once, its
        causal state forked N ways, then only the continuations' frames decoded (as one batch)."""
        n = continuations.shape[0]
        head, state = self.decode_stream(prefix)
        tail, _ = self.decode_stream(continuations, state.fork(n))
        return torch.cat([head.expand(n, *head.shape[1:]), tail], 1)


def tiny_wan_vae(z_dim: int, seed: int = 0) -> WanDecoder:
    """A small randomly initialised AutoencoderKLWan (base_dim 8) with z_dim latent channels."""
    from diffusers import AutoencoderKLWan

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vae = AutoencoderKLWan(
            base_dim=8,
            z_dim=z_dim,
            dim_mult=[1, 2],
            num_res_blocks=1,
            temperal_downsample=[True],
            latents_mean=[0.0] * z_dim,
            latents_std=[1.0] * z_dim,
        )
    return WanDecoder(vae)


def wan_vae_from_path(path: str, dtype: torch.dtype = torch.bfloat16) -> WanDecoder:
    """AutoencoderKLWan from a local folder (its `vae` subfolder when present)."""
    from pathlib import Path

    from diffusers import AutoencoderKLWan

    root = Path(path)
    sub = "vae" if (root / "vae").is_dir() else None
    vae = AutoencoderKLWan.from_pretrained(str(root), subfolder=sub, torch_dtype=dtype, local_files_only=True)
    return WanDecoder(vae)
