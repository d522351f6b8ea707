"""Latent → RGB decoders: diffusers AutoencoderKLWan from a local path, a tiny random one, or an identity map."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


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
        return ((video.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1)


def tiny_wan_vae(z_dim: int, seed: int = 0) -> WanDecoder:
    """A small randomly initialised AutoencoderKLWan (base_dim 8) with z_dim latent channels."""
    from diffusers import AutoencoderKLWan

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vae = AutoencoderKLWan(base_dim=8, z_dim=z_dim, dim_mult=[1, 2], num_res_blocks=1,
                               temperal_downsample=[True], latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    return WanDecoder(vae)


def wan_vae_from_path(path: str, dtype: torch.dtype = torch.bfloat16) -> WanDecoder:
    """AutoencoderKLWan from a local folder (its `vae` subfolder when present)."""
    from pathlib import Path

    from diffusers import AutoencoderKLWan

    root = Path(path)
    sub = "vae" if (root / "vae").is_dir() else None
    vae = AutoencoderKLWan.from_pretrained(str(root), subfolder=sub, torch_dtype=dtype, local_files_only=True)
    return WanDecoder(vae)
