"""Test helpers that build tiny, offline stand-ins for real models (no downloads)."""
from plotline.testing.tiny_lm import (
    DEFAULT_CORPUS,
    TINY_CHAT_TEMPLATE,
    build_tiny_qwen3,
    build_tiny_tokenizer,
    tiny_qwen3_config,
)

__all__ = [
    "DEFAULT_CORPUS",
    "TINY_CHAT_TEMPLATE",
    "build_tiny_qwen3",
    "build_tiny_tokenizer",
    "tiny_qwen3_config",
]
