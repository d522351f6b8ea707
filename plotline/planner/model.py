"""Loading the planner: a Qwen3 base from a local path plus a PEFT LoRA adapter (fresh or cold-start)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plotline.paths import require_path
from plotline.planner.config import PlannerConfig, PlannerLoraConfig
from plotline.planner.errors import AdapterMismatch, PlannerError
from plotline.planner.prompts import require_chat_template

BASE_MODEL_VERSION = "base"
"""Adapter version recorded for samples drawn from the base model without any adapter."""
PLOTLINE_ADAPTER_FILE = "plotline_adapter.json"
"""Written next to every adapter we save: the fingerprint of the base model it was trained on."""
_FINGERPRINT_KEYS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "tie_word_embeddings",
)


def base_fingerprint(config) -> str:
    """Short sha256 of the architecture fields of a model config (what an adapter's shapes depend on)."""
    data = config if isinstance(config, dict) else config.to_dict()
    picked = {k: data.get(k) for k in _FINGERPRINT_KEYS}
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def adapter_version(adapter_dir: str | Path | None) -> str:
    """Content hash (16 hex) of an adapter: its tensors (names, dtypes, shapes, bytes; file metadata ignored, so
    a copy re-stamped by the artifact store keeps its version) and its adapter_config.json; `base` without one."""
    if adapter_dir is None:
        return BASE_MODEL_VERSION
    from safetensors import safe_open

    root = Path(adapter_dir)
    digest = hashlib.sha256()
    cfg = root / "adapter_config.json"
    if cfg.is_file():
        digest.update(json.dumps(json.loads(cfg.read_text()), sort_keys=True).encode())
    weights = root / "adapter_model.safetensors"
    if weights.is_file():
        with safe_open(str(weights), framework="pt") as fh:
            for name in sorted(fh.keys()):
                t = fh.get_tensor(name).contiguous()
                digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
                digest.update(t.view(-1).view(torch_uint8()).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def torch_uint8():
    """torch.uint8 (imported lazily)."""
    import torch

    return torch.uint8


def resolve_device(device: str) -> str:
    """`auto` → cuda when available, else cpu; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def check_adapter_base(adapter_dir: str | Path, base_config, base_path: str | Path) -> None:
    """Raise AdapterMismatch when the adapter at `adapter_dir` was trained on another base model than
    `base_path` (compared by architecture fingerprint; PEFT-only adapters by their recorded base path/shapes)."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise PlannerError(f"adapter directory {str(adapter_dir)!r} has no adapter_config.json")
    ours = adapter_dir / PLOTLINE_ADAPTER_FILE
    expected = base_fingerprint(base_config)
    if ours.is_file():
        meta = json.loads(ours.read_text())
        if meta.get("base_fingerprint") != expected:
            raise AdapterMismatch(
                f"adapter {str(adapter_dir)!r} was trained on base model {meta.get('base_model')!r} "
                f"(fingerprint {meta.get('base_fingerprint')}), but the planner base is {str(base_path)!r} "
                f"(fingerprint {expected})"
            )


def _lora_config(lora: PlannerLoraConfig):
    from peft import LoraConfig, TaskType

    return LoraConfig(
        r=lora.rank,
        # peft annotates lora_alpha as int but scales by alpha / r in float: a fractional alpha is valid
        lora_alpha=lora.alpha,  # type: ignore[arg-type]
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type=TaskType.CAUSAL_LM,
        bias="none",
    )


@dataclass
class Planner:
    """A loaded planner: PEFT model, tokenizer, where it came from and the version of its adapter."""

    model: Any  # a peft PeftModel over a transformers causal LM
    tokenizer: Any  # a transformers tokenizer
    base_path: str
    adapter_path: str | None
    adapter_version: str
    device: str

    @property
    def context_length(self) -> int:
        """Maximum sequence length (prompt + completion) of the base model."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 2**31)


def load_tokenizer(base_path: str | Path):
    """Tokenizer of the base model (left padding for batched generation); requires a chat template."""
    from transformers import AutoTokenizer

    if not Path(base_path).is_dir():
        raise PlannerError(f"planner base model path {str(base_path)!r} is not a local directory")
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    require_chat_template(tokenizer, str(base_path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_planner(
    base_path: str | Path,
    adapter_path: str | Path | None = None,
    *,
    trainable: bool = False,
    lora: PlannerLoraConfig | None = None,
    dtype: str = "float32",
    device: str = "auto",
    seed: int = 0,
) -> Planner:
    """Load the Qwen3 base from `base_path` and wrap it with the adapter at `adapter_path` (checked against the
    base) or a fresh LoRA adapter (`lora`, seeded init; B = 0 so it starts equal to the base). Only LoRA
    weights are trainable when `trainable`."""
    import torch
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(base_path)
    device = resolve_device(device)
    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=_dtype(dtype))
    if adapter_path is not None:
        check_adapter_base(adapter_path, base.config, base_path)
        try:
            model = PeftModel.from_pretrained(base, str(adapter_path), is_trainable=trainable)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise AdapterMismatch(
                f"adapter {str(adapter_path)!r} does not fit the base model {str(base_path)!r}: {exc}"
            ) from exc
    else:
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            model = get_peft_model(base, _lora_config(lora or PlannerLoraConfig()))
        finally:
            torch.random.set_rng_state(state)
        if not trainable:
            for p in model.parameters():
                p.requires_grad_(False)
    model.to(device)
    model.train(trainable)
    return Planner(
        model=model,
        tokenizer=tokenizer,
        base_path=str(base_path),
        adapter_path=str(adapter_path) if adapter_path else None,
        adapter_version=adapter_version(adapter_path),
        device=device,
    )


def load_planner_from_config(
    config: PlannerConfig, adapter_path: str | Path | None = None, *, trainable: bool = False, seed: int = 0
) -> Planner:
    """`load_planner` with paths and LoRA shape from a PlannerConfig; `adapter_path` defaults to the cold-start one."""
    if not config.base_model:
        raise PlannerError("planner.base_model is not set: it must name a local Qwen3 directory")
    require_path(config.base_model, "planner.base_model", "a local Qwen3 model directory", "dir")
    if adapter_path is None and config.cold_start_adapter:
        require_path(config.cold_start_adapter, "planner.cold_start_adapter", "a local PEFT adapter directory", "dir")
    adapter = adapter_path if adapter_path is not None else config.cold_start_adapter
    return load_planner(
        config.base_model,
        adapter,
        trainable=trainable,
        lora=config.lora,
        dtype=config.dtype,
        device=config.device,
        seed=seed,
    )


def save_adapter(planner: Planner, out_dir: str | Path) -> str:
    """Save the active LoRA adapter in PEFT format (safetensors; loadable by vLLM's LoRA support) plus our
    base fingerprint; returns the new adapter version."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    planner.model.save_pretrained(str(out_dir), safe_serialization=True, selected_adapters=["default"])
    base_config = planner.model.get_base_model().config
    (out_dir / PLOTLINE_ADAPTER_FILE).write_text(
        json.dumps({"base_model": planner.base_path, "base_fingerprint": base_fingerprint(base_config)}, indent=2)
    )
    return adapter_version(out_dir)
