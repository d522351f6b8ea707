"""Loading released DiT checkpoints (Wan, Self-Forcing `generator_ema`, LongLive base + LoRA) into CausalWanDiT
with strict key matching; a mismatch names the missing, unexpected and mis-shaped keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

WRAPPER_PREFIXES = (
    "module.",
    "_orig_mod.",
    "model.",
    "_fsdp_wrapped_module.",
    "_checkpoint_wrapped_module.",
    "base_model.model.",
)
_LORA_A = re.compile(r"^(?P<base>.+)\.lora_A(?:\.[^.]+)?\.weight$")


class CheckpointMismatch(ValueError):
    """A state dict does not match the model; the message lists the offending keys by name."""

    def __init__(self, missing: list[str], unexpected: list[str], mismatched: list[str], source: str = "state dict"):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        parts = [f"{source} does not match the executor DiT"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:20])}{' …' if len(missing) > 20 else ''}")
        if unexpected:
            parts.append(
                f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}"
                f"{' …' if len(unexpected) > 20 else ''}"
            )
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {', '.join(mismatched[:20])}")
        super().__init__("; ".join(parts))


def strip_wrappers(key: str) -> str:
    """Remove training-wrapper prefixes (DDP `module.`, `_orig_mod.`, FSDP, Self-Forcing's `model.`) from a key."""
    key = key.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")
    changed = True
    while changed:
        changed = False
        for p in WRAPPER_PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def read_state_file(path: str | Path) -> dict:
    """Read a .safetensors or torch checkpoint (tensors only, weights_only) into a dict on CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(str(path), map_location="cpu", weights_only=True)


def _pick(obj: dict, keys: tuple[str, ...], source: str) -> dict:
    for k in keys:
        if k in obj and isinstance(obj[k], dict):
            return obj[k]
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise KeyError(f"{source}: none of {', '.join(keys)} found at the top level (has: {', '.join(list(obj)[:10])})")


def normalise(state: dict) -> dict[str, torch.Tensor]:
    """Keys with wrapper prefixes stripped."""
    return {strip_wrappers(k): v for k, v in state.items()}


def merge_lora(
    base: dict[str, torch.Tensor], lora: dict[str, torch.Tensor], alpha: float | None = None
) -> dict[str, torch.Tensor]:
    """W ← W + (α/r)·B·A for every PEFT `*.lora_A[.name].weight` / `*.lora_B[.name].weight` pair (r from A's rows).

    α defaults to r (scale 1, LongLive's r 256 / α 256). Raises naming LoRA targets absent from the base.
    """
    out = dict(base)
    missing = []
    for key, a in lora.items():
        m = _LORA_A.match(key)
        if not m:
            continue
        b_key = key.replace(".lora_A", ".lora_B")
        if b_key not in lora:
            raise KeyError(f"LoRA factor {key} has no matching {b_key}")
        target = strip_wrappers(m.group("base")) + ".weight"
        if target not in out:
            missing.append(target)
            continue
        r = a.shape[0]
        scale = (alpha if alpha is not None else r) / r
        w = out[target]
        out[target] = (w.float() + scale * (lora[b_key].float() @ a.float())).to(w.dtype)
    if missing:
        raise CheckpointMismatch(missing, [], [], source="LoRA merge: targets absent from the base")
    return out


def wan_state(path: str | Path, **_) -> dict[str, torch.Tensor]:
    """A plain Wan-layout state dict (optionally wrapped as `state_dict`/`model`)."""
    raw = read_state_file(path)
    return normalise(_pick(raw, ("state_dict", "model"), str(path)))


def self_forcing_state(path: str | Path, **_) -> dict[str, torch.Tensor]:
    """Self-Forcing checkpoint: the `generator_ema` weights (else `generator`), `model.` prefixes stripped."""
    raw = read_state_file(path)
    return normalise(_pick(raw, ("generator_ema", "generator"), str(path)))


def longlive_state(
    path: str | Path, lora_path: str | Path | None = None, lora_alpha: float | None = None, **_
) -> dict[str, torch.Tensor]:
    """LongLive: base `generator` weights plus the `generator_lora` PEFT LoRA merged in (W + α/r·BA)."""
    base = normalise(_pick(read_state_file(path), ("generator", "generator_ema"), str(path)))
    if lora_path is None:
        return base
    lora = _pick(read_state_file(lora_path), ("generator_lora", "lora"), str(lora_path))
    return merge_lora(base, lora, lora_alpha)


CHECKPOINT_FORMATS: dict[str, Callable[..., dict[str, torch.Tensor]]] = {
    "wan": wan_state,
    "self_forcing": self_forcing_state,
    "longlive": longlive_state,
}


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
    """Load `state` into `model` requiring the exact key set and shapes; CheckpointMismatch names any difference."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or mismatched:
        raise CheckpointMismatch(missing, unexpected, mismatched, source)
    model.load_state_dict(state, strict=True)


def load_checkpoint(model: nn.Module, fmt: str, path: str | Path, **kwargs) -> None:
    """Read `path` in format `fmt` (registry CHECKPOINT_FORMATS) and load it strictly into model."""
    if fmt not in CHECKPOINT_FORMATS:
        raise KeyError(f"unknown checkpoint format {fmt!r}; known: {', '.join(sorted(CHECKPOINT_FORMATS))}")
    load_strict(model, CHECKPOINT_FORMATS[fmt](path, **kwargs), source=f"{fmt} checkpoint {path}")
