"""Completion masks: which generated tokens the GSPO loss trains on (DESIGN §2, §10).

A completion is `[<think> ... </think>] answer <eos> [pad ...]`. Trained tokens are the answer and the eos that
ends it. The thinking block is excluded *including both tags*: position i is masked out for every
think_open_index <= i <= think_close_index (the reference release shifts this span by one index, DESIGN §10).
An unclosed `<think>` (a truncated thought) masks everything from the tag on; a `</think>` without an
opening tag in the completion (the template pre-filled it) masks everything up to it. Tokens after the first eos are
padding and are masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ThinkTokens:
    """Token ids that delimit a thinking block and end a completion."""

    open_id: int | None
    close_id: int | None
    eos_ids: frozenset[int]

    @classmethod
    def from_tokenizer(cls, tokenizer, extra_eos: Sequence[int] = ()) -> ThinkTokens:
        """Look up `<think>`, `</think>` and the eos ids of `tokenizer` (None when the vocabulary lacks a tag)."""

        def single(tok: str) -> int | None:
            ids = tokenizer.convert_tokens_to_ids(tok)
            unk = getattr(tokenizer, "unk_token_id", None)
            return None if ids is None or ids == unk else int(ids)

        eos = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
        eos |= {int(i) for i in extra_eos}
        return cls(single("<think>"), single("</think>"), frozenset(eos))


def truncate_at_eos(ids: Sequence[int], eos_ids: frozenset[int]) -> list[int]:
    """`ids` up to and including the first eos token (the rest is padding)."""
    out = []
    for t in ids:
        out.append(int(t))
        if int(t) in eos_ids:
            break
    return out


def completion_mask(completion_ids: Sequence[int], think: ThinkTokens) -> list[int]:
    """1 for trained completion tokens, 0 for the thinking block (tags included) and for padding after eos.
    A `</think>` with no `<think>` before it (templates that pre-fill the opening tag) masks everything up to it."""
    ids = [int(t) for t in completion_ids]
    mask = [1] * len(ids)
    inside = False
    if think.close_id is not None and think.close_id in ids:
        first_close = ids.index(think.close_id)
        if think.open_id is None or think.open_id not in ids[:first_close]:
            inside = True  # the opening tag lives in the prompt
    ended = False
    for i, t in enumerate(ids):
        if ended:
            mask[i] = 0
            continue
        if not inside and t == think.open_id:
            inside = True
        if inside:
            mask[i] = 0
            if t == think.close_id:
                inside = False
            continue
        if t in think.eos_ids:
            ended = True
    return mask
