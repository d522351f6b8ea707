"""Parity with upstream Self-Forcing and LongLive: the same tiny fp32 weights (upstream key layout, loaded strictly)
generate the videos upstream's CausalWanModel generated chunk by chunk with its KV cache, and LongLive's prompt
switches with its re-cache (fixtures/README.md)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from plotline.executor.arch import TINY
from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.kv_cache import AttentionWindow
from plotline.executor.model import CausalWanDiT

FIXTURE = load_file(Path(__file__).parent / "fixtures" / "self_forcing_parity.safetensors")
WINDOWS = [(-1, 0), (9, 0), (9, 3), (12, 3)]


def _model() -> CausalWanDiT:
    model = CausalWanDiT(TINY)
    model.load_state_dict({k[len("weight.") :]: v for k, v in FIXTURE.items() if k.startswith("weight.")}, strict=True)
    return model.eval()


@pytest.mark.parametrize("size,sink", WINDOWS)
@torch.no_grad()
def test_chunked_generation_matches_self_forcing(size, sink):
    noise = FIXTURE["noise"]
    gen = ChunkGenerator(_model(), FIXTURE["sigmas"], AttentionWindow(size, sink), 3, False)
    got, _ = gen.run(gen.new_cache(), [FIXTURE["context"]], [0], 0, 18, lambda c: noise[c])
    torch.testing.assert_close(got, FIXTURE[f"video_{size}_{sink}"], atol=1e-5, rtol=0)


def test_the_windows_lead_to_different_videos():
    """The comparison above can tell the windows apart (and so the sink/window arithmetic)."""
    videos = [FIXTURE[f"video_{s}_{k}"] for s, k in WINDOWS]
    for i in range(len(videos)):
        for j in range(i + 1, len(videos)):
            assert float((videos[i] - videos[j]).abs().max()) > 1e-3


LONGLIVE = load_file(Path(__file__).parent / "fixtures" / "longlive_recache_parity.safetensors")


@pytest.mark.parametrize("size,sink", [(12, 3), (-1, 0), (9, 0)])
@torch.no_grad()
def test_one_pass_recache_matches_longlive(size, sink):
    """Two prompt switches (k = 9 ≤ local_attn_size and k = 18 past it, the sink kept) re-cached in one pass
    give LongLive's video; the chunk-by-chunk re-cache does not."""
    noise, ctxs = LONGLIVE["noise"], list(LONGLIVE["contexts"])
    ref = LONGLIVE[f"video_{size}_{sink}"]
    out = {}
    for mode in ("one_pass", "chunked"):
        gen = ChunkGenerator(_model(), LONGLIVE["sigmas"], AttentionWindow(size, sink), 3, True, recache_mode=mode)
        out[mode], _ = gen.run(gen.new_cache(), ctxs, [0, 9, 18], 0, 24, lambda c: noise[c])
    torch.testing.assert_close(out["one_pass"], ref, atol=1e-5, rtol=0)
    assert float((out["chunked"] - ref).abs().max()) > 1e-3
