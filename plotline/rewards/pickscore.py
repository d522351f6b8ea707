"""PickScore aesthetic reward: a CLIP model (PickScore_v1 weights, CLIP-H processor) from local paths.

score(prompt, frames) = logit_scale · cos(text embedding, mean of the frames' unit image embeddings),
then normalised (`logit`, `scaled` = logit / scale, or `cosine` = (cos + 1) / 2). Prompts are truncated to
the text encoder's position limit (77 tokens for CLIP). The image path uses the PIL/numpy CLIP image
processor, so no torchvision is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plotline.rewards.config import PickScoreConfig


class PickScorer:
    """Scores (prompt, frames) pairs with a local CLIP/PickScore model."""

    def __init__(self, config: PickScoreConfig, device: str = "cpu"):
        if not config.model_path:
            raise ValueError("rewards.pickscore.model_path is not set")
        import torch
        from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

        self.config = config
        self.device = device
        proc_path = config.processor_path or config.model_path
        # transformers wraps PreTrainedModel.to in a decorator that mypy reads as unbound (self = the device)
        self.model = CLIPModel.from_pretrained(config.model_path, local_files_only=True).to(device).eval()  # type: ignore[arg-type]
        self.tokenizer = AutoTokenizer.from_pretrained(proc_path, local_files_only=True)
        self.image_processor = CLIPImageProcessorPil.from_pretrained(proc_path, local_files_only=True)
        self.max_text_len = int(self.model.config.text_config.max_position_embeddings)
        self._torch = torch

    def _embed_text(self, prompts: Sequence[str]):
        tok = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=self.max_text_len, return_tensors="pt"
        )
        tok = {k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
        emb = self.model.get_text_features(**tok)
        emb = getattr(emb, "pooler_output", emb)
        return emb / emb.norm(dim=-1, keepdim=True)

    def _embed_frames(self, frames: Sequence[np.ndarray]):
        chunks = []
        for i in range(0, len(frames), self.config.batch_size):
            pix = self.image_processor(
                images=[np.asarray(f) for f in frames[i : i + self.config.batch_size]], return_tensors="pt"
            )["pixel_values"].to(self.device)
            emb = self.model.get_image_features(pixel_values=pix)
            emb = getattr(emb, "pooler_output", emb)
            chunks.append(emb / emb.norm(dim=-1, keepdim=True))
        emb = self._torch.cat(chunks).mean(dim=0)
        return emb / emb.norm()

    def normalise(self, cosine: np.ndarray) -> np.ndarray:
        """Map cosine similarities to the configured reward scale."""
        mode = self.config.normalisation
        if mode == "cosine":
            return (cosine + 1.0) / 2.0
        logits = float(self.model.logit_scale.detach().exp()) * cosine
        return logits if mode == "logit" else logits / self.config.scale

    def score(self, prompts: Sequence[str], videos: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """One normalised PickScore per (prompt, frames) pair; frames are HxWx3 uint8, mean-pooled in
        embedding space. An empty frame list raises ValueError."""
        if len(prompts) != len(videos):
            raise ValueError(f"{len(prompts)} prompts but {len(videos)} videos")
        with self._torch.no_grad():
            text = self._embed_text(prompts)
            cos = []
            for i, frames in enumerate(videos):
                if len(frames) == 0:
                    raise ValueError(f"video {i} has no frames")
                cos.append(float(text[i] @ self._embed_frames(frames)))
        return self.normalise(np.asarray(cos))


def load_pickscore(config: PickScoreConfig, device: str = "cpu") -> PickScorer | None:
    """A PickScorer, or None when no model path is configured (the aesthetic reward is then unscored)."""
    return PickScorer(config, device) if config.model_path else None
