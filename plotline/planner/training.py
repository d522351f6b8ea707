"""One GSPO update of the planner from plan records and their advantages (DESIGN §2 update_planner)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from plotline.parallel.collective import Collective
from plotline.planner.logprobs import completion_logprobs, pack, sequence_logprobs
from plotline.planner.model import Planner, adapter_version, check_adapter_base
from plotline.planner.records import PlanRecord
from plotline.progress import Progress, no_progress
from plotline.rl.gspo import GSPOBatch, gspo_update
from plotline.rl.gspo_config import GSPOConfig

REFERENCE_ADAPTER = "plotline_reference"


def trainable_records(records: Sequence[PlanRecord]) -> list[PlanRecord]:
    """Records that can be trained on: sampled without error and with at least one masked-in token."""
    return [r for r in records if r.error is None and r.completion_token_ids and any(r.completion_mask)]


def _padded(rows: Sequence[Sequence[float]], T: int, dtype=torch.float32) -> torch.Tensor:
    out = torch.zeros(len(rows), T, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(list(row), dtype=dtype)
    return out


@contextmanager
def _active_adapter(model, name: str):
    """Temporarily activate adapter `name`, restoring the previous adapter and every requires_grad flag."""
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter(previous)
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])


def shared_sequence_logprobs(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
    batch_size: int = 8,
    collective: Collective | None = None,
) -> list[list[float]]:
    """`sequence_logprobs` with its micro-batches dealt round-robin over the collective's ranks and the results
    all-gathered: every rank gets every sequence's log-probs, each computed in the same micro-batch (hence
    bitwise the same) as in one process."""
    coll = collective or Collective()
    if coll.world_size == 1:
        return sequence_logprobs(model, prompts, completions, pad_id, batch_size)
    starts = list(range(0, len(prompts), batch_size))
    mine = []
    for s in coll.share(starts):
        lps = sequence_logprobs(model, prompts[s : s + batch_size], completions[s : s + batch_size], pad_id, batch_size)
        mine += list(enumerate(lps, start=s))
    found = dict(coll.gather(mine))
    return [found[i] for i in range(len(prompts))]


def reference_logprobs(
    planner: Planner,
    records: Sequence[PlanRecord],
    reference: str,
    start_adapter: str | Path | None,
    batch_size: int = 8,
    collective: Collective | None = None,
) -> list[list[float]]:
    """Log-probs of each completion under the frozen KL reference: `base` = adapter disabled; `start` = the
    starting planner (`start_adapter`, the cold-start adapter; a fresh start is the base model itself).
    With a multi-rank `collective` the forward passes are shared out (`shared_sequence_logprobs`)."""
    model, pad = planner.model, planner.tokenizer.pad_token_id
    prompts = [r.prompt_token_ids for r in records]
    comps = [r.completion_token_ids for r in records]

    def logprobs() -> list[list[float]]:
        return shared_sequence_logprobs(model, prompts, comps, pad, batch_size, collective)

    if reference == "base" or start_adapter is None:
        with model.disable_adapter():
            return logprobs()
    if reference != "start":
        raise ValueError(f"unknown GSPO reference {reference!r}; expected 'start' or 'base'")
    if adapter_version(start_adapter) == planner.adapter_version:
        return logprobs()
    check_adapter_base(start_adapter, model.get_base_model().config, planner.base_path)
    model.load_adapter(str(start_adapter), adapter_name=REFERENCE_ADAPTER, is_trainable=False)
    try:
        with _active_adapter(model, REFERENCE_ADAPTER):
            return logprobs()
    finally:
        model.delete_adapter(REFERENCE_ADAPTER)


def build_batch(
    records: Sequence[PlanRecord], advantages: Mapping[str, float], ref_logprobs: Sequence[Sequence[float]] | None
) -> GSPOBatch:
    """Pad masks and log-probs of `records` to a common T and attach each plan's advantage (by plan_id)."""
    missing = [r.plan_id for r in records if r.plan_id not in advantages]
    if missing:
        raise KeyError(f"no advantage for plans {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    absent = [
        r.plan_id for r in records if r.old_logprobs is None or len(r.old_logprobs) != len(r.completion_token_ids)
    ]
    if absent:
        raise ValueError(f"plans without old log-probs matching their completion: {absent[:5]}")
    T = max(len(r.completion_token_ids) for r in records)
    return GSPOBatch(
        mask=_padded([r.completion_mask for r in records], T),
        old_logp=_padded([r.old_logprobs or [] for r in records], T),  # none is None (checked above)
        advantages=torch.tensor([float(advantages[r.plan_id]) for r in records], dtype=torch.float32),
        ref_logp=None if ref_logprobs is None else _padded(ref_logprobs, T),
        sample_ids=[r.plan_id for r in records],
    )


def policy_logprobs_fn(planner: Planner, records: Sequence[PlanRecord], T: int):
    """Closure idx -> [len(idx), T] log-probs of those records under the current (trainable) planner."""
    pad = planner.tokenizer.pad_token_id

    def fn(idx: torch.Tensor) -> torch.Tensor:
        chosen = [records[int(i)] for i in idx]
        lp = completion_logprobs(
            planner.model, pack([r.prompt_token_ids for r in chosen], [r.completion_token_ids for r in chosen], pad)
        )
        return F.pad(lp, (0, T - lp.shape[1]))

    return fn


def make_optimizer(planner: Planner, config: GSPOConfig) -> torch.optim.Optimizer:
    """AdamW over the planner's trainable (LoRA) parameters."""
    params = [p for p in planner.model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the planner has no trainable parameters (load it with trainable=True)")
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def gspo_step(
    planner: Planner,
    records: Sequence[PlanRecord],
    advantages: Mapping[str, float],
    config: GSPOConfig,
    start_adapter: str | Path | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    logprob_batch_size: int = 8,
    collective: Collective | None = None,
    progress: Progress = no_progress,
) -> list[dict]:
    """One GSPO update: reference log-probs (if β > 0), then `gspo_update` on the trainable records
    (`progress(step, steps, loss)` after each optimiser step).
    Returns the per-optimiser-step metrics (empty when no record is trainable). A multi-rank `collective`
    shares the reference passes and the micro-batches across ranks (same update as one process)."""
    records = trainable_records(records)
    if not records:
        return []
    ref = None
    if config.kl_coef > 0:
        ref = reference_logprobs(planner, records, config.reference, start_adapter, logprob_batch_size, collective)
    batch = build_batch(records, advantages, ref)
    optimizer = optimizer or make_optimizer(planner, config)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    planner.model.train()
    return gspo_update(
        params,
        optimizer,
        batch,
        policy_logprobs_fn(planner, records, batch.mask.shape[1]),
        config,
        seed=seed,
        collective=collective,
        progress=progress,
    )
