"""RoPE tables cached on the device per (start, length, grid) give bitwise the rotation computed afresh."""

import torch

from plotline.executor.arch import TINY
from plotline.executor.model import ROPE_GRID_CACHE, CausalWanDiT
from plotline.executor.rope import grid_angles, rope_angles, rotate


def _fresh_rotation(x, angles):
    """The rotation as computed before the cache (float64 angles → fp32 cos/sin at every call)."""
    b, n, h, d = x.shape
    pairs = x.float().reshape(b, n, h, d // 2, 2)
    cos = angles.cos().to(torch.float32)[None, :, None, :]
    sin = angles.sin().to(torch.float32)[None, :, None, :]
    re, im = pairs[..., 0], pairs[..., 1]
    return torch.stack([re * cos - im * sin, re * sin + im * cos], dim=-1).reshape(b, n, h, d).type_as(x)


def test_cached_rope_grid_is_reused_and_bitwise_the_fresh_rotation():
    model = CausalWanDiT(TINY)
    first = model.rope_grid("cpu", 3, 4, 4, 6)
    assert model.rope_grid(torch.device("cpu"), 3, 4, 4, 6) is first  # reused, not rebuilt
    assert model.rope_grid("cpu", 3, 4, 4, 9) is not first  # keyed by the start frame
    angles = grid_angles(rope_angles(TINY.head_dim, TINY.rope_max_positions, TINY.rope_theta), 3, 4, 4, 6)
    x = torch.randn(2, 48, TINY.num_heads, TINY.head_dim)
    for dtype in (torch.float32, torch.bfloat16):
        assert torch.equal(rotate(x.to(dtype), *first), _fresh_rotation(x.to(dtype), angles))
    assert first[0].dtype == torch.float32


def test_rope_grid_cache_is_bounded():
    model = CausalWanDiT(TINY)
    for s in range(ROPE_GRID_CACHE + 5):
        model.rope_grid("cpu", 1, 2, 2, s % 1000)
    assert len(model._rope_grid) == ROPE_GRID_CACHE
