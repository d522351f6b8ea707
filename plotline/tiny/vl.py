"""A tiny Qwen3-VL (vision-language) model with its processor, built from configs for CPU tests.

No weights are downloaded: `build_tiny_qwen3_vl` creates a randomly initialised (seeded)
`Qwen3VLForConditionalGeneration` with a two-layer text decoder and a two-block vision tower, a byte-level BPE
tokenizer trained on the fly (`plotline.tiny.lm`) extended with Qwen-VL's vision tokens
(`<|vision_start|>`, `<|image_pad|>`, `<|video_pad|>`, `<|vision_end|>`), the PIL Qwen2-VL image processor and
a Qwen3-VL-style chat template that renders an image content part as `<|vision_start|><|image_pad|><|vision_end|>`.
The processor expands every `<|image_pad|>` into one token per merged 16x16-pixel patch, so a prompt's token
count grows with the number and the size of its images. Input and output embeddings are untied, so greedy
replies of the random model depend on the pixels (a test can tell that the images reached the vision tower).

Why the processor is a small subclass saved as remote code: in transformers 5.23 `ProcessorMixin.__init__`
requires (and type-checks) one sub-processor per modality argument of the processor's `__init__`.
`Qwen3VLProcessor` takes a `video_processor`, whose base class `VideoProcessorMixin` and every video processor
(`Qwen3VLVideoProcessor`, `Qwen2VLVideoProcessor`) exist only with torchvision, which the CPU environment
deliberately lacks: the stock processor can be neither built nor loaded (`AutoProcessor.from_pretrained` raises
"Qwen2VLVideoProcessor requires the Torchvision library"), and `transformers serve` dies while preloading it.
`ImageOnlyQwen3VLProcessor` (`PROCESSOR_SOURCE`) drops that argument and keeps the image and text processing of
`Qwen3VLProcessor` unchanged. It is written next to the model and registered in `processor_config.json`'s
`auto_map`, so `transformers serve --trust-remote-code <path>` loads it like any Hub model with custom code;
in-process, `load_tiny_vl_processor(path)` loads it without going through the remote-code cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from plotline.tiny.lm import IM_END, PAD_TOKEN, build_tiny_tokenizer

VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
VISION_TOKENS = (VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
"""Special tokens the Qwen3-VL processor and model look up by name."""

PATCH_SIZE = 8
"""Vision patch side in pixels (Qwen3-VL uses 16); with `MERGE_SIZE` 2 one image token covers 16x16 pixels."""
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2

# Qwen3-VL-style template: `<|im_start|>role\n...<|im_end|>` turns; an image part (OpenAI `image_url`, or the
# processor's `image`) becomes one vision block, a video part a video block; text parts are concatenated.
# `enable_thinking=False` pre-fills an empty think block, as in the text tiny model.
TINY_VL_CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- elif content is none -%}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part.type == 'image' or part.type == 'image_url' or 'image' in part -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part.type == 'video' or 'video' in part -%}"
    "{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif part.text is defined -%}{{ part.text }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + render(message.content) + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)


PROCESSOR_MODULE = "processing_image_only_qwen3_vl"
PROCESSOR_CLASS = "ImageOnlyQwen3VLProcessor"
# Saved next to the model and loaded with `trust_remote_code` (see the module docstring).
PROCESSOR_SOURCE = '''"""Qwen3-VL processor without a video processor, for environments without torchvision.

In transformers 5.23 `ProcessorMixin.__init__` requires one sub-processor per modality argument of the
processor's `__init__` and type-checks each one; `Qwen3VLProcessor` takes `video_processor`, whose base class
`VideoProcessorMixin` (and every video processor, e.g. `Qwen2VLVideoProcessor`) is only available with
torchvision. Dropping the argument from `__init__` leaves image + text processing of `Qwen3VLProcessor` intact.
"""
from transformers import Qwen3VLProcessor


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """`Qwen3VLProcessor` with an image processor and a tokenizer only (no videos)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # ProcessorMixin pairs the positional sub-processors with this class's attributes (image_processor,
        # tokenizer), so the video processor slot Qwen3VLProcessor passes on (None here) is not looked at.
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)
'''


def build_tiny_vl_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 512):
    """The tiny BPE tokenizer of `plotline.tiny.lm` plus the Qwen-VL vision tokens (special, so they
    are never split and are skipped when decoding) and the VL chat template."""
    from tokenizers import AddedToken

    tokenizer = build_tiny_tokenizer(corpus, vocab_size=vocab_size, chat_template=None)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in VISION_TOKENS], special_tokens=True)
    tokenizer.chat_template = TINY_VL_CHAT_TEMPLATE
    return tokenizer


def tiny_qwen3_vl_config(
    tokenizer,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    vision_hidden_size: int = 32,
    vision_depth: int = 2,
    vision_heads: int = 2,
    max_positions: int = 4096,
):
    """A `Qwen3VLConfig` small enough for CPU tests, with token ids taken from `tokenizer`.

    The text decoder uses interleaved M-RoPE with `mrope_section` summing to half the head dim; the vision
    tower feeds one deepstack feature into the first decoder layer."""
    from transformers import Qwen3VLConfig

    head_dim = hidden_size // num_heads
    half = head_dim // 2
    mrope = [half - 2 * (half // 4), half // 4, half // 4]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*VISION_TOKENS, PAD_TOKEN, IM_END)}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": max_positions,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": mrope,
            "mrope_interleaved": True,
        },
        "pad_token_id": ids[PAD_TOKEN],
        "eos_token_id": ids[IM_END],
        "bos_token_id": None,
    }
    vision = {
        "depth": vision_depth,
        "hidden_size": vision_hidden_size,
        "intermediate_size": 2 * vision_hidden_size,
        "num_heads": vision_heads,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH_SIZE,
        "out_hidden_size": hidden_size,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids[IMAGE_PAD],
        video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START],
        vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=False,
    )


def image_only_processor_class():
    """`ImageOnlyQwen3VLProcessor`, defined by executing `PROCESSOR_SOURCE` (the code saved next to the model)."""
    namespace: dict = {"__name__": PROCESSOR_MODULE}
    exec(compile(PROCESSOR_SOURCE, PROCESSOR_MODULE + ".py", "exec"), namespace)
    return namespace[PROCESSOR_CLASS]


def build_tiny_vl_processor(tokenizer, *, min_pixels: int = 32 * 32, max_pixels: int = 128 * 128):
    """An image-only Qwen3-VL processor around `tokenizer` with a PIL Qwen2-VL image processor whose resizing
    keeps every image between `min_pixels` and `max_pixels` (a 64x64 frame costs 16 image tokens, 128x128 64)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(
        patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return image_only_processor_class()(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=TINY_VL_CHAT_TEMPLATE
    )


def build_tiny_qwen3_vl(
    path: str | Path,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    max_new_tokens: int = 64,
) -> Path:
    """Build a seeded, randomly initialised tiny `Qwen3VLForConditionalGeneration` plus its processor (tokenizer,
    image processor, chat template), save them with `save_pretrained` into `path`, and return the path."""
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_vl_tokenizer(corpus, vocab_size=vocab_size)
    processor = build_tiny_vl_processor(tokenizer)
    config = tiny_qwen3_vl_config(tokenizer, hidden_size=hidden_size, num_layers=num_layers)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen3VLForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(state)
    pad_id, eos_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN), tokenizer.convert_tokens_to_ids(IM_END)
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id],
        pad_token_id=pad_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=max_new_tokens,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    (path / f"{PROCESSOR_MODULE}.py").write_text(PROCESSOR_SOURCE)
    config_file = path / "processor_config.json"
    saved = json.loads(config_file.read_text()) if config_file.exists() else {}
    saved["processor_class"] = PROCESSOR_CLASS
    saved["auto_map"] = {"AutoProcessor": f"{PROCESSOR_MODULE}.{PROCESSOR_CLASS}"}
    config_file.write_text(json.dumps(saved, indent=2) + "\n")
    return path


def load_tiny_vl_processor(path: str | Path):
    """The saved processor of a tiny VL directory (the same class `transformers serve --trust-remote-code`
    loads from it, here without copying the code into the Hugging Face modules cache)."""
    return image_only_processor_class().from_pretrained(str(path), local_files_only=True)
