"""Completion masks exclude the thinking block exactly (both tags) and padding after eos."""

from plotline.planner.masks import ThinkTokens, completion_mask, truncate_at_eos
from plotline.tiny import build_tiny_tokenizer

TOK = build_tiny_tokenizer()
THINK = ThinkTokens.from_tokenizer(TOK)


def ids(text):
    return TOK(text, add_special_tokens=False)["input_ids"]


def test_without_thinking_block_everything_up_to_eos_is_trained():
    comp = ids('["A red square."]') + [TOK.eos_token_id] + [TOK.pad_token_id] * 3
    mask = completion_mask(comp, THINK)
    n = len(ids('["A red square."]'))
    assert mask == [1] * (n + 1) + [0] * 3


def test_with_thinking_block_the_span_from_open_to_close_tag_is_excluded():
    think = ids("<think>\nTwo events, two spans.\n</think>")
    answer = ids('\n\n["A red square."]')
    comp = think + answer + [TOK.eos_token_id]
    mask = completion_mask(comp, THINK)
    open_i, close_i = comp.index(THINK.open_id), comp.index(THINK.close_id)
    assert (open_i, close_i) == (0, len(think) - 1)
    # exact boundaries: the closing tag itself is excluded, the first answer token is trained
    assert mask[close_i] == 0 and mask[close_i + 1] == 1
    assert mask == [0] * len(think) + [1] * (len(answer) + 1)


def test_unclosed_think_and_prefilled_open_tag():
    comp = ids("<think>\nstill thinking") + [TOK.eos_token_id]
    assert completion_mask(comp, THINK) == [0] * len(comp)
    comp = ids('thought\n</think>\n\n["A"]') + [TOK.eos_token_id]  # template pre-filled <think>
    close_i = comp.index(THINK.close_id)
    assert completion_mask(comp, THINK) == [0] * (close_i + 1) + [1] * (len(comp) - close_i - 1)


def test_truncate_at_eos():
    assert truncate_at_eos([5, 6, TOK.eos_token_id, 0, 0], THINK.eos_ids) == [5, 6, TOK.eos_token_id]
    assert truncate_at_eos([5, 6], THINK.eos_ids) == [5, 6]
