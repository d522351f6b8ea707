"""The tiny Qwen3 builder: config-built model + tokenizer trained in the test, Qwen3-style chat template."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from plotline.tiny import build_tiny_qwen3, build_tiny_tokenizer


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny"), corpus=["a purple hexagon wobbles"], seed=3)


def test_round_trips_through_from_pretrained(tiny_dir):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen3"
    assert model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    ids = tok("a purple hexagon wobbles", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "a purple hexagon wobbles"
    out = model.generate(torch.tensor([ids]), max_new_tokens=5, do_sample=True, pad_token_id=tok.pad_token_id)
    assert out.shape[1] <= len(ids) + 5


def test_same_seed_same_weights(tmp_path):
    a = AutoModelForCausalLM.from_pretrained(build_tiny_qwen3(tmp_path / "a", seed=1))
    b = AutoModelForCausalLM.from_pretrained(build_tiny_qwen3(tmp_path / "b", seed=1))
    for (na, pa_), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa_, pb), na


def test_chat_template_thinking_switch():
    tok = build_tiny_tokenizer()
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    on = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    off = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert on == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    assert off == on + "<think>\n\n</think>\n\n"
    reply = tok.apply_chat_template(
        msgs + [{"role": "assistant", "content": "<think>\nhm\n</think>\n\nOK"}], tokenize=False
    )
    assert reply.endswith("<|im_start|>assistant\n<think>\nhm\n</think>\n\nOK<|im_end|>\n")
    # earlier turns lose their reasoning, as in Qwen3
    history = msgs + [
        {"role": "assistant", "content": "<think>\nold\n</think>\n\nA1"},
        {"role": "user", "content": "U2"},
    ]
    assert "old" not in tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)


def test_think_tags_are_single_visible_tokens():
    tok = build_tiny_tokenizer()
    ids = tok("<think>\nx\n</think>\n\n[]", add_special_tokens=False)["input_ids"]
    toks = tok.convert_ids_to_tokens(ids)
    assert toks[0] == "<think>" and "</think>" in toks
    assert tok.decode(ids, skip_special_tokens=True).startswith("<think>")  # not special: survives decoding


def test_without_chat_template(tmp_path):
    tok = AutoTokenizer.from_pretrained(build_tiny_qwen3(tmp_path, chat_template=None))
    assert not tok.chat_template
