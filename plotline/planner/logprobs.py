"""Per-token log-probs of completions under a causal LM, from a forward pass with fp32 log-softmax (DESIGN §4).

Layout of a batch: prompts left-padded to a common length P, completions right-padded to T, so every
completion starts at column P and the logits for completion token t sit at column P - 1 + t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class PackedBatch:
    """Token ids and masks of a batch of (prompt, completion) pairs in the layout above."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    prompt_len: int
    completion_len: int


def pack(
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
    completion_len: int | None = None,
) -> PackedBatch:
    """Left-pad prompts to their longest and right-pad completions to `completion_len` (default: their longest)."""
    P = max(len(p) for p in prompts)
    T = completion_len if completion_len is not None else max(max(len(c) for c in completions), 1)
    rows, masks = [], []
    for p, c in zip(prompts, completions):
        c = list(c)[:T]
        rows.append([pad_id] * (P - len(p)) + list(p) + c + [pad_id] * (T - len(c)))
        masks.append([0] * (P - len(p)) + [1] * (len(p) + len(c)) + [0] * (T - len(c)))
    ids = torch.tensor(rows, dtype=torch.long)
    attn = torch.tensor(masks, dtype=torch.long)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    return PackedBatch(ids, attn, pos, P, T)


def completion_logprobs(model, batch: PackedBatch) -> torch.Tensor:
    """log π(c_t | prompt, c_<t) for every completion position, shape [B, T], fp32 (padding positions hold
    the log-prob of the pad token and must be masked by the caller). Differentiable when grads are on."""
    device = next(model.parameters()).device
    out = model(
        input_ids=batch.input_ids.to(device),
        attention_mask=batch.attention_mask.to(device),
        position_ids=batch.position_ids.to(device),
        use_cache=False,
        logits_to_keep=batch.completion_len + 1,
    )
    logits = out.logits[:, :-1, :].float()
    targets = batch.input_ids[:, batch.prompt_len :].to(device)
    logp = torch.log_softmax(logits, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def sequence_logprobs(
    model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int, batch_size: int = 8
) -> list[list[float]]:
    """fp32 per-token log-probs of each completion (its own length, no padding), computed in no-grad
    micro-batches in the given order; used for the old and reference log-probs."""
    was_training = model.training
    model.eval()
    out: list[list[float]] = []
    try:
        for i in range(0, len(prompts), batch_size):
            ps, cs = prompts[i : i + batch_size], completions[i : i + batch_size]
            if all(len(c) == 0 for c in cs):
                out.extend([] for _ in cs)
                continue
            lp = completion_logprobs(model, pack(ps, cs, pad_id)).cpu()
            out.extend(lp[j, : len(c)].tolist() for j, c in enumerate(cs))
    finally:
        model.train(was_training)
    return out
