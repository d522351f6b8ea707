"""A tiny Qwen3 causal LM with a byte-level BPE tokenizer trained on the fly.

Everything is built from configs (no weights are downloaded). The saved directory loads with
`AutoModelForCausalLM.from_pretrained(path)` / `AutoTokenizer.from_pretrained(path)` and can be served by
`transformers serve <path>`. The chat template follows the Qwen3 conventions the planner and the judges rely
on: `<|im_start|>role\\n...<|im_end|>` turns, an optional `<think>...</think>` block at the start of an
assistant reply, and `enable_thinking=False` pre-filling an empty think block in the generation prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIAL_TOKENS = (PAD_TOKEN, IM_START, IM_END)
"""Control tokens (skipped by `decode(skip_special_tokens=True)`)."""
THINK_TOKENS = (THINK_OPEN, THINK_CLOSE)
"""Added but *not* special: they survive decoding so parsers and masks can see them."""

# Our own Qwen3-style template. Reasoning of assistant turns that precede the last user turn is dropped
# (as Qwen3 does); a `reasoning_content` field or an inline `<think>...</think>` prefix is accepted.
TINY_CHAT_TEMPLATE = (
    "{%- macro text_of(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- elif content is none -%}"
    "{%- else -%}{%- for part in content -%}{%- if part.text is defined -%}{{ part.text }}{%- endif -%}{%- endfor -%}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for message in messages -%}{%- if message.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}"
    "{%- for message in messages -%}"
    "{%- set content = text_of(message.content) -%}"
    "{%- if message.role == 'assistant' -%}"
    "{%- set reasoning = message.reasoning_content if message.reasoning_content is string else '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if loop.index0 > ns.last_user and (reasoning or loop.last) -%}"
    "{{- '<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{{- content + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)

DEFAULT_CORPUS: tuple[str, ...] = (
    "You are a planner for a video generator. Split the video evenly into spans and write one caption per span.",
    "Return a JSON array of strings, one visual present-tense caption per span, and nothing else.",
    '["A red square sits on the left.", "The red square slides to the right.", "The red square turns blue."]',
    '["A blue circle rests in the center.", "The blue circle grows larger.", "The large circle fades away."]',
    '```json\n["A green triangle appears.", "The triangle rotates slowly.",]\n```',
    "<think>\nThe instruction has three events, so each span gets one of them.\n</think>\n\n",
    "a red square moves right, then turns blue, then grows",
    "a yellow circle falls down, then bounces, then stops",
    "a cat walks across the room, then jumps onto the sofa, then falls asleep",
    "Instruction: a man opens the door and steps outside. Steps: 2",
    "Rate the plan from 0 to 10. Answer in JSON with the keys faithfulness_score and coverage_score.",
    '{"faithfulness_score": 0.8, "coverage_score": 0.9, "temporal_score": 0.7, "hallucination_score": 0.1}',
    '{"final_score": 7, "frame_scores": [6, 7, 8], "temporal_order_score": 8}',
    "0 1 2 3 4 5 6 7 8 9 10 . , : ; ! ? ' \" ( ) [ ] { } - _ / \\ < > = + * # @ & %",
)


def _train_corpus(corpus: Iterable[str] | None) -> list[str]:
    texts = list(DEFAULT_CORPUS) + [str(t) for t in (corpus or ())]
    return texts * 4  # repetition makes merges of frequent words stable without a large corpus


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None, vocab_size: int = 512, chat_template: str | None = TINY_CHAT_TEMPLATE
):
    """Train a byte-level BPE tokenizer on `corpus` + `DEFAULT_CORPUS` and wrap it as a transformers fast
    tokenizer with Qwen3's control tokens (`<|im_end|>` is eos, `<|endoftext|>` is pad) and chat template.
    Pass `chat_template=None` for a tokenizer without one."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_train_corpus(corpus), trainer=trainer)
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        unk_token=None,
        bos_token=None,
        additional_special_tokens=[IM_START],
        padding_side="left",
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def tiny_qwen3_config(
    vocab_size: int,
    pad_token_id: int,
    eos_token_id: int,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_positions: int = 1024,
):
    """A `Qwen3Config` small enough for CPU tests (≈0.1 M parameters at the defaults)."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
        use_cache=True,
    )


def build_tiny_qwen3(
    path: str | Path,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_positions: int = 1024,
    chat_template: str | None = TINY_CHAT_TEMPLATE,
) -> Path:
    """Build a randomly initialised tiny Qwen3ForCausalLM (seeded) plus its freshly trained tokenizer, save both
    with `save_pretrained` into `path`, and return the path."""
    import torch
    from transformers import GenerationConfig, Qwen3ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(corpus, vocab_size=vocab_size, chat_template=chat_template)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    config = tiny_qwen3_config(
        len(tokenizer),
        pad_id,
        eos_id,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        max_positions=max_positions,
    )
    devnull_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen3ForCausalLM(config).eval()
    finally:
        torch.random.set_rng_state(devnull_state)
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id],
        pad_token_id=pad_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=64,
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
