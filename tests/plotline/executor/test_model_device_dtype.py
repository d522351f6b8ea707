"""The causal DiT at real scale on the meta device (no CPU tensor mixed into a forward on another device), and
bf16 end to end: fp32 noise cast at the model boundary, fp32 norms, fp32 x̂0 / log-probs."""

import math

import torch

from plotline.executor.arch import WAN_1_3B
from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor, resolve_dtype
from plotline.executor.kv_cache import AttentionWindow, KVCache
from plotline.executor.model import CausalWanDiT, LayerNorm
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout


@torch.no_grad()
def test_wan_1_3b_cached_forward_on_meta_device():
    with torch.device("meta"):
        model = CausalWanDiT(WAN_1_3B)
    model = model.to(torch.bfloat16)  # bf16 weights, fp32 noise: the CUDA configuration
    cache = KVCache(WAN_1_3B.num_layers, AttentionWindow(local_attn_size=12, sink_size=3))
    ctx = torch.empty(1, 300, WAN_1_3B.text_dim, device="meta", dtype=torch.bfloat16)
    x = torch.empty(1, 16, 3, 60, 104, device="meta", dtype=torch.float32)
    model(x, torch.zeros(1, 3, device="meta"), ctx, cache=cache, start_frame=0, write_cache=True)
    assert cache.cached_frames == [0, 1, 2]
    k0 = cache.frames[0][0][0]
    assert k0.device.type == "meta" and k0.dtype == torch.bfloat16 and k0.shape == (1, 30 * 52, 12, 128)
    v = model(x, torch.full((1, 3), 1000.0, device="meta"), ctx, cache=cache, start_frame=3)  # reads the cache
    assert v.shape == (1, 16, 3, 60, 104) and v.device.type == "meta" and v.dtype == torch.float32


@torch.no_grad()
def test_wan_1_3b_masked_recomputation_on_meta_device():
    with torch.device("meta"):
        model = CausalWanDiT(WAN_1_3B)
    x = torch.empty(1, 16, 6, 60, 104, device="meta")
    ctx = torch.empty(1, 6, 512, WAN_1_3B.text_dim, device="meta")  # one prompt per frame
    v = model(
        x,
        torch.zeros(1, 6, device="meta"),
        ctx,
        chunk_frames=3,
        window=AttentionWindow(local_attn_size=12, sink_size=3),
    )
    assert v.shape == (1, 16, 6, 60, 104) and v.device.type == "meta"


def test_layer_norm_in_fp32_with_bf16_weights():
    torch.manual_seed(0)
    norm = LayerNorm(48, eps=1e-6, elementwise_affine=True)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    norm = norm.to(torch.bfloat16)
    x = torch.randn(2, 5, 48).to(torch.bfloat16)
    got = norm(x)
    xf = x.double()
    mu, var = xf.mean(-1, keepdim=True), xf.var(-1, unbiased=False, keepdim=True)
    expect = (xf - mu) / torch.sqrt(var + 1e-6) * norm.weight.double() + norm.bias.double()
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), expect.to(torch.bfloat16).double(), atol=0.02, rtol=0.01)


def test_dtype_auto_is_bf16_on_cuda_fp32_on_cpu():
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
    assert ExecutorConfig().dtype == "auto"


@torch.no_grad()
def test_tiny_bf16_fork_rollout_keeps_fp32_logprobs(tiny_video, tiny_executor, prompts):
    ex16 = build_executor(
        ExecutorConfig(backbone="tiny", latent_height=4, latent_width=4, dtype="bfloat16"), tiny_video, device="cpu"
    )
    assert next(ex16.model.parameters()).dtype == torch.bfloat16
    K, k, ids = 12, 6, [0, 1]
    starts = span_starts(K, 3, k)
    out = {}
    for name, ex in (("bf16", ex16), ("fp32", tiny_executor)):
        out[name] = fork_rollout(ex.generator, ex.encode(prompts), starts, K, k, ex.noise(4), "plan", ids)
    r = out["bf16"]
    t = r.trajectory
    assert r.continuations.shape == (2, 4, K - k, 4, 4)
    for tensor in (t.states, t.velocities, t.logprobs, r.continuations):
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
    # the stored log-probs are the fp32 Gaussian of the recorded fp32 states and velocities (float64 check)
    sig = t.sigmas.double()
    for i in range(t.logprobs.shape[1]):
        mu = (1 - sig[i + 1]) * (t.states[:, i].double() - sig[i] * t.velocities[:, i].double())
        x = t.states[:, i + 1].double()
        ref = -((x - mu) ** 2) / (2 * sig[i + 1] ** 2) - torch.log(sig[i + 1]) - 0.5 * math.log(2 * math.pi)
        torch.testing.assert_close(t.logprobs[:, i].double(), ref.flatten(1).mean(1), atol=1e-5, rtol=1e-6)
    # bf16 follows the fp32 model closely (same weights rounded), and is not secretly the fp32 computation
    diff = (r.continuations - out["fp32"].continuations).abs()
    assert float(diff.max()) < 0.05 and float(diff.max()) > 0  # measured 0.009 on values up to 2.8
