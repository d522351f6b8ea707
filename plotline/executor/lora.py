"""The RL LoRA adapter on the DiT (peft): attach, save with the backbone's identity, load refusing a foreign one."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from plotline.executor.backbones import Backbone

ADAPTER_META = "plotline_adapter.json"


class AdapterMismatch(ValueError):
    """An adapter was built for a different backbone/architecture than the executor loading it."""


def target_pattern(targets: list[str]) -> str:
    """peft target regex: module names `blocks.N.[…].<target>` for each target suffix (e.g. q, ffn.0)."""
    alts = "|".join(re.escape(t) for t in targets)
    return rf"^blocks\.\d+\.(?:.*\.)?(?:{alts})$"


def attach_lora(model: nn.Module, rank: int, alpha: float, targets: list[str]):
    """Wrap the DiT in a peft LoRA (B = 0 at init, so the adapted model starts equal to the base)."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=rank,
        # peft annotates lora_alpha as int but scales by alpha / r in float: a fractional alpha is valid
        lora_alpha=alpha,  # type: ignore[arg-type]
        target_modules=target_pattern(targets),
        lora_dropout=0.0,
    )
    return get_peft_model(model, cfg)


def adapter_identity(backbone: Backbone) -> dict:
    """What an adapter records about the model it was trained on."""
    return {"backbone": backbone.name, "arch": backbone.arch.fingerprint()}


def save_adapter(peft_model, out_dir: str | Path, backbone: Backbone, version: str) -> Path:
    """peft save_pretrained (safetensors) plus plotline_adapter.json with the backbone identity and version."""
    out = Path(out_dir)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    (out / ADAPTER_META).write_text(json.dumps({**adapter_identity(backbone), "version": version}, indent=1))
    return out


def read_adapter_meta(adapter_dir: str | Path) -> dict:
    """The plotline_adapter.json of an adapter folder (AdapterMismatch when absent)."""
    path = Path(adapter_dir) / ADAPTER_META
    if not path.is_file():
        raise AdapterMismatch(f"{adapter_dir} has no {ADAPTER_META}; cannot tell which backbone it was built for")
    return json.loads(path.read_text())


def check_adapter(adapter_dir: str | Path, backbone: Backbone) -> dict:
    """Raise AdapterMismatch unless the adapter was built for this backbone and architecture; return its meta."""
    meta = read_adapter_meta(adapter_dir)
    want = adapter_identity(backbone)
    if meta.get("backbone") != want["backbone"] or meta.get("arch") != want["arch"]:
        diff = [k for k in want["arch"] if (meta.get("arch") or {}).get(k) != want["arch"][k]]
        raise AdapterMismatch(
            f"adapter {adapter_dir} was built for backbone {meta.get('backbone')!r}, not "
            f"{backbone.name!r}" + (f" (architecture differs in {', '.join(diff)})" if diff else "")
        )
    return meta


def load_adapter(model: nn.Module, adapter_dir: str | Path, backbone: Backbone, trainable: bool = True):
    """Check the adapter's backbone, then attach it with peft (PeftModel.from_pretrained)."""
    from peft import PeftModel

    meta = check_adapter(adapter_dir, backbone)
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    peft_model.plotline_meta = meta
    return peft_model


class AdapterSwitch:
    """Turns the LoRA layers of a peft model off for a block and on again, as `PeftModel.disable_adapter` does.

    peft's context manager scans every module twice and builds a model-status report on each entry; a Flow-GRPO
    update enters it for the reference velocity of every transition (about 15 ms a time at the tiny size, a third
    of a CPU update). This one finds the tuner layers once and calls the same `enable_adapters(False/True)` on
    them in the same order, so the outputs and every `requires_grad` flag end as peft leaves them. It falls back to
    peft's own context manager whenever that would do anything else: prompt-learning or adaption-prompt
    adapters, a LoRA bias (peft warns), or layers that are not all enabled on entry.
    """

    def __init__(self, peft_model):
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import AuxiliaryTrainingWrapper

        self.peft_model = peft_model
        config = peft_model.peft_config[peft_model.active_adapter]
        biases = {getattr(peft_model.peft_config[a], "bias", "none") for a in peft_model.base_model.active_adapters}
        self.fast = not (config.is_prompt_learning or config.is_adaption_prompt) and biases <= {"none"}
        modules = list(peft_model.base_model.model.modules()) if self.fast else []
        self.layers = [m for m in modules if isinstance(m, (BaseTunerLayer, AuxiliaryTrainingWrapper))]
        self.tuners = [m for m in self.layers if isinstance(m, BaseTunerLayer)]

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """The base model for the block: every adapter layer disabled, re-enabled on exit."""
        model = self.peft_model
        if not self.fast or not self.tuners or any(m.disable_adapters for m in self.tuners):
            with model.disable_adapter():
                yield
            return
        was_disabled = model._adapters_disabled
        try:
            for m in self.layers:
                m.enable_adapters(False)
            model._adapters_disabled = True
            yield
        finally:
            for m in self.layers:
                m.enable_adapters(True)
            model._adapters_disabled = was_disabled

    @contextlib.contextmanager
    def disabled_for_inference(self) -> Iterator[None]:
        """The base model for a block run without autograd (the Flow-GRPO reference forwards).

        A LoRA layer's forward reads only its `disable_adapters` flag, so flipping that flag gives exactly the
        outputs of `disabled`; the `requires_grad` toggling that peft does on the way in and out matters only when
        gradients are recorded, which is refused here. Every flag (adapter state and `requires_grad`) ends as it
        was on entry. Falls back to `disabled` where that does anything more: the cases listed on the class and
        auxiliary (`modules_to_save`) wrappers, which switch modules rather than a flag.
        """
        if torch.is_grad_enabled():
            raise RuntimeError("disabled_for_inference() needs autograd off (torch.no_grad()); use disabled()")
        flag_only = self.fast and self.tuners and len(self.tuners) == len(self.layers)
        if not flag_only or any(m.disable_adapters for m in self.tuners):
            with self.disabled():
                yield
            return
        model = self.peft_model
        was_disabled = model._adapters_disabled
        try:
            for m in self.tuners:
                m._disable_adapters = True
            model._adapters_disabled = True
            yield
        finally:
            for m in self.tuners:
                m._disable_adapters = False
            model._adapters_disabled = was_disabled
