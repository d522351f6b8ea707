"""executor.compile: the fused glue (torch.compile of the block's LayerNorm + modulation and gated residuals)
gives the eager outputs to fp32 tolerance on a tiny DiT; the eager glue is the block's reference ops (checked
against a hand-written AdaLN); the switch is off on CPU and falls back with a clear message when compiling fails."""

import logging

import pytest
import torch

from plotline.executor import fused
from plotline.executor.arch import DiTArch
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import apply_compile_switch
from plotline.executor.fused import EAGER, gated_residual, norm_modulate, set_fused_glue
from plotline.executor.model import CausalWanDiT

ARCH = DiTArch(
    dim=32,
    ffn_dim=64,
    num_heads=2,
    num_layers=2,
    in_dim=4,
    out_dim=4,
    text_dim=16,
    text_len=8,
    freq_dim=16,
    patch_size=(1, 2, 2),
)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(2, 4, 3, 4, 4, generator=g),
        torch.full((2, 3), 500.0),
        torch.randn(2, ARCH.text_len, ARCH.text_dim, generator=g),
    )


def test_eager_glue_is_adaln_by_hand():
    g = torch.Generator().manual_seed(1)
    x, shift, scale, gate = (
        torch.randn(2, 6, 8, generator=g),
        torch.randn(2, 3, 8, generator=g),
        torch.randn(2, 3, 8, generator=g),
        torch.randn(2, 3, 8, generator=g),
    )
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    ln = (x - mu) / torch.sqrt(var + 1e-6)
    frame = torch.arange(6) // 2  # 2 tokens per frame
    want = ln * (1 + scale[:, frame]) + shift[:, frame]
    torch.testing.assert_close(norm_modulate(x, shift, scale, 3, 1e-6), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gated_residual(x, want, gate, 3), x + want * gate[:, frame])


def _compiles() -> bool:
    try:
        fused.compiled_glue()
        return True
    except RuntimeError:
        return False


@pytest.mark.slow  # inductor compiles on CPU (about 30 s of CPU)
@torch.no_grad()
def test_compiled_glue_gives_the_eager_outputs_to_fp32_tolerance():
    if not _compiles():
        pytest.skip("inductor cannot compile on this machine (covered by the fallback test)")
    torch.manual_seed(0)
    model = CausalWanDiT(ARCH).eval()
    x, t, ctx = _inputs()
    eager = model(x, t, ctx, chunk_frames=3)
    assert set_fused_glue(model, True).compiled
    try:
        got = model(x, t, ctx, chunk_frames=3)
    finally:
        set_fused_glue(model, False)
    torch.testing.assert_close(got, eager, rtol=1e-5, atol=1e-5)
    assert torch.equal(model(x, t, ctx, chunk_frames=3), eager)  # switched back: the eager ops again


def test_failed_compile_falls_back_to_eager_with_a_clear_message(monkeypatch, caplog):
    def broken(*a, **k):
        raise FileNotFoundError("no C++ compiler found")

    monkeypatch.setattr(fused, "_compiled", None)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    model = CausalWanDiT(ARCH)
    with caplog.at_level(logging.WARNING, logger="plotline.executor.fused"):
        glue = set_fused_glue(model, True)
    assert glue is EAGER and all(b.glue is EAGER for b in model.blocks)
    assert "executor.compile" in caplog.text and "no C++ compiler found" in caplog.text
    assert "falling back to the eager glue" in caplog.text


def test_switch_is_off_by_default_and_on_cpu(caplog):
    assert ExecutorConfig().compile is False
    model = CausalWanDiT(ARCH)
    with caplog.at_level(logging.INFO, logger="plotline.executor.executor"):
        assert apply_compile_switch(model, True, torch.device("cpu")) is False
    assert all(b.glue is EAGER for b in model.blocks)
    assert "ignored on cpu" in caplog.text
