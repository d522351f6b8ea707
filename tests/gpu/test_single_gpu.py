"""One CUDA device: a tiny bf16 rollout + Flow-GRPO update, and bf16 vs fp32 agreement of the DiT velocity."""

import copy
import math

import pytest
import torch

from benchmarks.gpu_check import main
from plotline.executor.arch import TINY
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.model import CausalWanDiT

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

BF16_REL_TOL = 3e-2
"""Relative L2 error allowed between bf16 and fp32 velocities (bf16 keeps 8 mantissa bits: ~4e-3 per op, a few
layers of accumulation)."""


def test_tiny_bf16_rollout_and_update_on_one_gpu():
    res = main(["--tiny", "--device", "cuda", "--dtype", "bfloat16", "--n", "4", "--micro-batch", "2"])
    assert math.isfinite(res["grad_norm"]) and res["grad_norm"] > 0
    assert res["update_peak_bytes"] > 0


def test_bf16_velocity_agrees_with_fp32():
    torch.manual_seed(0)
    fp32 = CausalWanDiT(TINY).cuda().eval()
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    x = torch.randn(2, TINY.in_dim, 3, 8, 8, device="cuda")
    ctx = torch.randn(2, TINY.text_len, TINY.text_dim, device="cuda")
    t = torch.full((2, 3), 750.0, device="cuda")
    with torch.no_grad():
        v32 = fp32(x, t, ctx, cache=KVCache(TINY.num_layers, AttentionWindow()))
        v16 = bf16(x.bfloat16(), t, ctx.bfloat16(), cache=KVCache(TINY.num_layers, AttentionWindow()))
    rel = (v16.float() - v32).norm() / v32.norm()
    assert rel < BF16_REL_TOL, f"bf16 vs fp32 relative error {float(rel):.3g}"
