"""The product's tiny-model factory: offline stand-ins for the real planner, VLM judge and LM built from configs (no downloads)."""

from plotline.tiny.lm import (
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
