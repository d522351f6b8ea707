"""Architecture of the causal Wan2.1-style DiT: dimensions only (no weights, no runtime settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DiTArch:
    """Shape of a Wan2.1 transformer. Defaults are Wan2.1-T2V-1.3B (the Self-Forcing/LongLive base)."""

    in_dim: int = 16
    out_dim: int = 16
    dim: int = 1536
    ffn_dim: int = 8960
    freq_dim: int = 256
    text_dim: int = 4096
    text_len: int = 512
    num_heads: int = 12
    num_layers: int = 30
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6
    cross_attn_norm: bool = True
    rope_theta: float = 10000.0
    rope_max_positions: int = 1024

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if (self.dim // self.num_heads) % 2:
            raise ValueError(f"head dim {self.dim // self.num_heads} must be even for RoPE")
        if self.patch_size[0] != 1:
            raise ValueError("the causal DiT needs a temporal patch size of 1 (one latent frame per token row)")

    @property
    def head_dim(self) -> int:
        """Per-head channel count d = dim / num_heads."""
        return self.dim // self.num_heads

    def fingerprint(self) -> dict:
        """JSON-able identity of the architecture (recorded in adapters to refuse a foreign backbone)."""
        out = asdict(self)
        out["patch_size"] = list(self.patch_size)
        return out


WAN_1_3B = DiTArch()
"""Wan2.1-T2V-1.3B: dim 1536, 30 layers, 12 heads, ffn 8960, UMT5-XXL text (4096)."""

TINY = DiTArch(
    in_dim=4, out_dim=4, dim=48, ffn_dim=96, freq_dim=32, text_dim=32, text_len=16, num_heads=2, num_layers=2
)
"""A CPU-sized DiT of the same code: 2 layers, dim 48, 2 heads (head dim 24)."""
