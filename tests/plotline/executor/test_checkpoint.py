"""Wan-layout state dicts (built here from the published key layout) load strictly; mismatches name the keys."""

import pytest
import torch

from plotline.executor.arch import TINY
from plotline.executor.checkpoint import CheckpointMismatch, load_checkpoint, load_strict
from plotline.executor.model import CausalWanDiT


def wan_layout(a) -> dict[str, torch.Tensor]:
    """The original Wan2.1 T2V parameter layout written out by hand for arch `a`."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    d, f = a.dim, a.ffn_dim
    sd = {
        "patch_embedding.weight": r(d, a.in_dim, *a.patch_size),
        "patch_embedding.bias": r(d),
        "text_embedding.0.weight": r(d, a.text_dim),
        "text_embedding.0.bias": r(d),
        "text_embedding.2.weight": r(d, d),
        "text_embedding.2.bias": r(d),
        "time_embedding.0.weight": r(d, a.freq_dim),
        "time_embedding.0.bias": r(d),
        "time_embedding.2.weight": r(d, d),
        "time_embedding.2.bias": r(d),
        "time_projection.1.weight": r(6 * d, d),
        "time_projection.1.bias": r(6 * d),
        "head.head.weight": r(a.out_dim * 4, d),
        "head.head.bias": r(a.out_dim * 4),
        "head.modulation": r(1, 2, d),
    }
    for n in range(a.num_layers):
        p = f"blocks.{n}."
        for att in ("self_attn", "cross_attn"):
            for lin in "qkvo":
                sd[f"{p}{att}.{lin}.weight"], sd[f"{p}{att}.{lin}.bias"] = r(d, d), r(d)
            sd[f"{p}{att}.norm_q.weight"], sd[f"{p}{att}.norm_k.weight"] = 1 + r(d), 1 + r(d)
        sd[f"{p}norm3.weight"], sd[f"{p}norm3.bias"] = 1 + r(d), r(d)
        sd[f"{p}ffn.0.weight"], sd[f"{p}ffn.0.bias"] = r(f, d), r(f)
        sd[f"{p}ffn.2.weight"], sd[f"{p}ffn.2.bias"] = r(d, f), r(d)
        sd[f"{p}modulation"] = r(1, 6, d)
    return sd


def test_wan_layout_loads_strictly():
    model = CausalWanDiT(TINY)
    sd = wan_layout(TINY)
    load_strict(model, sd)
    torch.testing.assert_close(model.blocks[1].cross_attn.norm_k.weight, sd["blocks.1.cross_attn.norm_k.weight"])
    assert not any("freq" in k or "rope" in k for k in model.state_dict())


def test_mismatched_state_dict_names_the_keys():
    sd = wan_layout(TINY)
    del sd["blocks.0.ffn.2.bias"]
    sd["blocks.0.extra.weight"] = torch.zeros(1)
    sd["head.head.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointMismatch) as err:
        load_strict(CausalWanDiT(TINY), sd)
    msg = str(err.value)
    assert "blocks.0.ffn.2.bias" in msg and "blocks.0.extra.weight" in msg and "head.head.bias" in msg


def test_self_forcing_and_longlive_formats(tmp_path):
    sd = wan_layout(TINY)
    sf = tmp_path / "self_forcing.pt"
    torch.save({"generator": {}, "generator_ema": {f"model.{k}": v for k, v in sd.items()}}, sf)
    m = CausalWanDiT(TINY)
    load_checkpoint(m, "self_forcing", sf)
    torch.testing.assert_close(m.patch_embedding.weight, sd["patch_embedding.weight"])

    base, lora = tmp_path / "longlive_base.pt", tmp_path / "lora.pt"
    torch.save({"generator": {f"model.{k}": v for k, v in sd.items()}}, base)
    A, B = torch.randn(4, TINY.dim), torch.randn(TINY.dim, 4)
    torch.save(
        {
            "generator_lora": {
                "base_model.model.blocks.0.self_attn.q.lora_A.weight": A,
                "base_model.model.blocks.0.self_attn.q.lora_B.weight": B,
            }
        },
        lora,
    )
    m2 = CausalWanDiT(TINY)
    load_checkpoint(m2, "longlive", base, lora_path=lora, lora_alpha=8.0)
    torch.testing.assert_close(m2.blocks[0].self_attn.q.weight, sd["blocks.0.self_attn.q.weight"] + 2.0 * B @ A)

    bad = tmp_path / "bad.pt"
    torch.save({"generator_ema": {f"model.{k}": v for k, v in sd.items() if "head" not in k}}, bad)
    with pytest.raises(CheckpointMismatch, match="head.modulation"):
        load_checkpoint(CausalWanDiT(TINY), "self_forcing", bad)
