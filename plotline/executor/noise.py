"""Deterministic per-(sample, chunk) noise, so a continuation sees the same noise whether it is generated alone,
in a batch, or after a fork."""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*keys: object) -> int:
    """A 63-bit seed from any printable keys (sha256 of their repr)."""
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class ChunkNoise:
    """Noise for chunk `c` of sample `s`: the initial x_T and one ε per stochastic transition."""

    def __init__(self, seed: int, shape: tuple[int, ...], num_steps: int):
        self.seed, self.shape, self.num_steps = seed, tuple(shape), num_steps

    def draw(self, sample: object, chunk: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """[num_steps, *shape] standard normals: index 0 is x_T, index i>0 the ε of transition i−1 → i."""
        g = torch.Generator().manual_seed(derive_seed(self.seed, sample, chunk))
        return torch.randn((self.num_steps, *self.shape), generator=g).to(device=device, dtype=dtype)

    def batch(self, samples: list[object], chunk: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """[num_steps, B, *shape] noise for several samples of one chunk."""
        return torch.stack([self.draw(s, chunk, dtype, device) for s in samples], 1)
