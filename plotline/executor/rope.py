"""Frame-offset 3D rotary position embedding (Wan layout: the head dim split into frame, height, width parts)."""

from __future__ import annotations

import torch


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Rotation pairs given to (frame, height, width): c = d/2 split as (c - 2(c//3), c//3, c//3)."""
    c = head_dim // 2
    return c - 2 * (c // 3), c // 3, c // 3


def rope_angles(
    head_dim: int, max_positions: int, theta: float = 10000.0, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Angle tables pos·θ^(−2i/d_axis) for each axis, d_axis = 2·pairs (float64 on `device`, [max_positions, pairs])."""
    tables = []
    for pairs in rope_split(head_dim):
        axis_dim = 2 * pairs
        inv = 1.0 / theta ** (torch.arange(0, axis_dim, 2, dtype=torch.float64, device=device) / axis_dim)
        tables.append(torch.outer(torch.arange(max_positions, dtype=torch.float64, device=device), inv))
    return tuple(tables)


def grid_angles(
    tables: tuple[torch.Tensor, ...], frames: int, height: int, width: int, start_frame: int = 0
) -> torch.Tensor:
    """Angles for a (frames, height, width) token grid whose first frame sits at absolute index start_frame.

    Returns [frames*height*width, d/2]; frame positions are start_frame..start_frame+frames−1.
    """
    tf, th, tw = tables
    if start_frame + frames > tf.shape[0]:
        raise ValueError(f"frame positions up to {start_frame + frames} exceed the RoPE table ({tf.shape[0]})")
    f = tf[start_frame : start_frame + frames][:, None, None, :].expand(frames, height, width, -1)
    h = th[:height][None, :, None, :].expand(frames, height, width, -1)
    w = tw[:width][None, None, :, :].expand(frames, height, width, -1)
    return torch.cat([f, h, w], dim=-1).reshape(frames * height * width, -1)


def rope_cos_sin(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos θ, sin θ) in float32 [L, d/2] of float64 angles [L, d/2] (what rotate() multiplies by)."""
    return angles.cos().to(torch.float32), angles.sin().to(torch.float32)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of x [B, L, H, d] by the angles whose fp32 cos/sin [L, d/2] are given:
    (re, im) → (re·cos − im·sin, re·sin + im·cos), computed in fp32 and cast back to x's dtype."""
    b, n, h, d = x.shape
    pairs = x.float().reshape(b, n, h, d // 2, 2)
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    re, im = pairs[..., 0], pairs[..., 1]
    out = torch.stack([re * cos - im * sin, re * sin + im * cos], dim=-1)
    return out.reshape(b, n, h, d).type_as(x)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of x [B, L, H, d] by angles [L, d/2] (complex multiply by e^{iθ})."""
    return rotate(x, *rope_cos_sin(angles))
