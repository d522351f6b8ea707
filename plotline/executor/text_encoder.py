"""Text encoders: UMT5 (transformers UMT5EncoderModel) from a local path, or a tiny seeded UMT5 for CPU tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ByteTokenizer:
    """UTF-8 bytes → ids (offset 2; 0 = pad, 1 = eos): a tokenizer for tiny encoders that needs no files."""

    vocab_size = 258

    def __call__(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask [B, max_length] (truncated, eos-terminated, right-padded)."""
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros(len(texts), max_length, dtype=torch.long)
        for i, t in enumerate(texts):
            seq = [b + 2 for b in t.encode("utf-8")][: max_length - 1] + [1]
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        return ids, mask


class TextEncoder(nn.Module):
    """Encodes prompts to UMT5 hidden states [B, max_length, text_dim], zeroed past each prompt's length (Wan)."""

    def __init__(
        self, model: nn.Module, tokenize: Callable[[list[str], int], tuple[torch.Tensor, torch.Tensor]], max_length: int
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenize = tokenize
        self.max_length = max_length

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        """Hidden states of `texts`, padding positions set to zero."""
        ids, mask = self.tokenize(list(texts), self.max_length)
        device = next(self.model.parameters()).device
        hidden = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        return hidden * mask.to(device).unsqueeze(-1).to(hidden.dtype)


def tiny_umt5(text_dim: int, max_length: int, seed: int = 0) -> TextEncoder:
    """A randomly initialised 1-layer UMT5 encoder (d_model=text_dim) with the byte tokenizer."""
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(
        vocab_size=ByteTokenizer.vocab_size,
        d_model=text_dim,
        d_kv=8,
        d_ff=2 * text_dim,
        num_layers=1,
        num_heads=2,
        dropout_rate=0.0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = UMT5EncoderModel(cfg)
    tok = ByteTokenizer()
    return TextEncoder(model, lambda texts, n: tok(texts, n), max_length)


def umt5_from_path(path: str, max_length: int = 512, dtype: torch.dtype = torch.bfloat16) -> TextEncoder:
    """UMT5-XXL encoder + tokenizer from a local folder (e.g. Wan2.1-T2V-1.3B-Diffusers/{text_encoder,tokenizer})."""
    from pathlib import Path

    from transformers import AutoTokenizer, UMT5EncoderModel

    root = Path(path)
    enc_dir = root / "text_encoder" if (root / "text_encoder").is_dir() else root
    tok_dir = root / "tokenizer" if (root / "tokenizer").is_dir() else root
    model = UMT5EncoderModel.from_pretrained(str(enc_dir), dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)

    def tokenize(texts: list[str], n: int):
        out = tokenizer(
            texts, padding="max_length", max_length=n, truncation=True, add_special_tokens=True, return_tensors="pt"
        )
        return out.input_ids, out.attention_mask

    return TextEncoder(model, tokenize, max_length)
