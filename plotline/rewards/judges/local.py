"""`local` judge backend: transformers models in-process from local paths (Qwen3 text, Qwen3-VL frames).

`request.model` is the local directory of the model. Text-only requests load it with
AutoModelForCausalLM + AutoTokenizer; requests with frames use AutoModelForImageTextToText + AutoProcessor.
Models are loaded once per backend and decoded greedily unless a temperature is configured.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any

from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.registry import register_backend


class LocalJudgeBackend:
    """Runs the judge models in this process; a load or generation failure is returned as an error."""

    name = "local"

    def __init__(self, config: RewardsConfig):
        self.config = config
        self._models: dict[tuple[str, bool], tuple[Any, Any]] = {}

    def _load(self, path: str, vision: bool):
        key = (path, vision)
        if key not in self._models:
            import torch
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

            dtype = getattr(torch, self.config.local.dtype)
            if vision:
                model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype, local_files_only=True)
                proc = AutoProcessor.from_pretrained(path, local_files_only=True)
            else:
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
                proc = AutoTokenizer.from_pretrained(path, local_files_only=True)
            # transformers wraps PreTrainedModel.to in a decorator that mypy reads as unbound (self = the device)
            self._models[key] = (model.to(self.config.local.device).eval(), proc)  # type: ignore[arg-type]
        return self._models[key]

    def _generate(self, req: JudgeRequest) -> str:
        import torch

        vision = bool(req.images)
        model, proc = self._load(req.model, vision)
        if vision:
            from PIL import Image

            images = [Image.open(io.BytesIO(b)).convert("RGB") for b in req.images]
            user: str | list[dict[str, object]] = [{"type": "image", "image": im} for im in images] + [
                {"type": "text", "text": req.user}
            ]
        else:
            user = req.user
        messages = [{"role": "system", "content": req.system}, {"role": "user", "content": user}]
        inputs = proc.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        temperature = self.config.models.temperature
        with torch.no_grad():
            out = model.generate(
                **inputs,
                max_new_tokens=self.config.models.max_tokens,
                do_sample=temperature > 0,
                temperature=temperature or None,
            )
        new = out[0, inputs["input_ids"].shape[1] :]
        tok = proc.tokenizer if hasattr(proc, "tokenizer") else proc
        return tok.decode(new, skip_special_tokens=True)

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Generate one reply per request, sequentially, in this process."""
        out = []
        for req in requests:
            start = time.perf_counter()
            try:
                out.append(JudgeResponse(self._generate(req), time.perf_counter() - start))
            except Exception as exc:  # noqa: BLE001 - a broken model must not crash the scorer
                out.append(JudgeResponse(None, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}"))
        return out


@register_backend("local")
def _make(config: RewardsConfig) -> LocalJudgeBackend:
    return LocalJudgeBackend(config)
