"""AdapterSwitch: the same base-model outputs as peft's disable_adapter, with the same requires_grad flags (disabled)
or with every flag untouched (disabled_for_inference, autograd off)."""

import pytest
import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.lora import AdapterSwitch, attach_lora
from plotline.video import VideoConfig

torch.set_num_threads(1)


def _peft(targets=("q", "v", "ffn.0")):
    ex = build_executor(
        ExecutorConfig(latent_height=4, latent_width=4),
        VideoConfig(target_latent_frames=3, latent_frames_per_step=3, switch_frames=[]),
        device="cpu",
    )
    peft = attach_lora(ex.model, 4, 4.0, list(targets))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.add_(0.1 * torch.randn_like(p))  # B != 0: the adapted model differs from the base
    return ex, peft


def _velocity(ex, peft):
    torch.manual_seed(1)
    x = torch.randn(1, ex.model.arch.in_dim, 3, 4, 4)
    ctx = ex.encode(["a square moves"])[0]
    t = torch.full((1, 3), 0.5)
    with torch.no_grad():
        return peft(x, t, ctx)


def _flags(peft):
    return {n: p.requires_grad for n, p in peft.named_parameters()}


def test_disabled_block_equals_peft_disable_adapter_and_restores_every_flag():
    ex, peft = _peft()
    # one LoRA target frozen by hand, as the trainer freezes gradless targets: both paths must treat it alike
    frozen = next(p for n, p in peft.named_parameters() if "lora_A" in n)
    frozen.requires_grad_(False)
    adapted = _velocity(ex, peft)
    before = _flags(peft)
    with peft.disable_adapter():
        base_peft = _velocity(ex, peft)
        inside_peft = _flags(peft)
    after_peft = _flags(peft)

    frozen.requires_grad_(False)  # back to the starting flags
    assert _flags(peft) == before
    switch = AdapterSwitch(peft)
    assert switch.fast and switch.tuners
    with switch.disabled():
        base_switch = _velocity(ex, peft)
        assert peft._adapters_disabled is True
        assert _flags(peft) == inside_peft
    assert peft._adapters_disabled is False
    assert _flags(peft) == after_peft
    assert torch.equal(base_switch, base_peft)  # the same computation: the base model
    assert not torch.equal(base_switch, adapted)
    assert torch.equal(_velocity(ex, peft), adapted)  # the adapter is back on


def test_an_error_inside_the_block_still_re_enables_the_adapter():
    ex, peft = _peft()
    adapted = _velocity(ex, peft)
    switch = AdapterSwitch(peft)
    with pytest.raises(RuntimeError, match="boom"), switch.disabled():
        raise RuntimeError("boom")
    assert all(not m.disable_adapters for m in switch.tuners)
    assert torch.equal(_velocity(ex, peft), adapted)


def test_partly_disabled_layers_fall_back_to_peft(monkeypatch):
    ex, peft = _peft()
    switch = AdapterSwitch(peft)
    switch.tuners[0].enable_adapters(False)  # irregular: peft's own path (it warns and re-enables all)
    calls = []
    original = type(peft).disable_adapter

    def spy(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(type(peft), "disable_adapter", spy)
    with pytest.warns(UserWarning, match="some adapter layers that are enabled"), switch.disabled():
        pass
    assert calls == [1]
    assert all(not m.disable_adapters for m in switch.tuners)


def test_inference_switch_gives_peft_base_outputs_and_leaves_every_flag_as_it_was():
    ex, peft = _peft()
    frozen = next(p for n, p in peft.named_parameters() if "lora_A" in n)
    frozen.requires_grad_(False)  # a gradless target frozen by the trainer: peft's exit would unfreeze it
    adapted = _velocity(ex, peft)
    with peft.disable_adapter():
        base_peft = _velocity(ex, peft)
    frozen.requires_grad_(False)
    before = _flags(peft)
    switch = AdapterSwitch(peft)
    with torch.no_grad(), switch.disabled_for_inference():
        base_switch = _velocity(ex, peft)
        assert peft._adapters_disabled is True and all(m.disable_adapters for m in switch.tuners)
        assert _flags(peft) == before  # no requires_grad toggling
    assert peft._adapters_disabled is False and not any(m.disable_adapters for m in switch.tuners)
    assert _flags(peft) == before and frozen.requires_grad is False
    assert torch.equal(base_switch, base_peft)  # the same computation: the base model
    assert torch.equal(_velocity(ex, peft), adapted)


def test_inference_switch_refuses_autograd_and_restores_after_an_error():
    ex, peft = _peft()
    adapted = _velocity(ex, peft)
    switch = AdapterSwitch(peft)
    with pytest.raises(RuntimeError, match=r"needs autograd off"), switch.disabled_for_inference():
        pass
    with pytest.raises(RuntimeError, match="boom"), torch.no_grad(), switch.disabled_for_inference():
        raise RuntimeError("boom")
    assert not any(m.disable_adapters for m in switch.tuners) and peft._adapters_disabled is False
    assert torch.equal(_velocity(ex, peft), adapted)
