"""Sampling M plans per instruction through a backend, then parsing, masking and recording log-probs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from plotline.planner.backends import PlanRequest, PlanSampler, SampledPlan
from plotline.planner.config import PlannerConfig
from plotline.planner.errors import PlannerInputError
from plotline.planner.logprobs import sequence_logprobs
from plotline.planner.masks import ThinkTokens, completion_mask
from plotline.planner.parsing import STATUS_FAILED, failed_plan, parse_plan
from plotline.planner.prompts import render_prompt
from plotline.planner.records import PlanRecord, make_plan_id
from plotline.progress import Progress, no_progress


@dataclass(frozen=True)
class Instruction:
    """A global instruction to plan: id, text and split."""

    instruction_id: str
    prompt: str
    split: str = "train"


def plan_seed(seed: int, instruction_id: str, plan_index: int) -> int:
    """Deterministic 31-bit seed of plan m of an instruction under a global seed."""
    h = hashlib.sha256(f"{seed}|{instruction_id}|{plan_index}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def prompt_limit(config: PlannerConfig, context_length: int | None) -> int | None:
    """Longest allowed prompt in tokens: `max_prompt_tokens`, else context − max_new_tokens (None if unknown)."""
    if config.max_prompt_tokens is not None:
        return config.max_prompt_tokens
    if context_length:
        return max(context_length - config.max_new_tokens, 1)
    return None


def build_requests(
    tokenizer,
    instructions: Sequence[Instruction],
    config: PlannerConfig,
    num_steps: int,
    seed: int,
    context_length: int | None = None,
) -> list[PlanRequest]:
    """M = `config.num_plans` requests per instruction (prompts rendered once per instruction); raises
    PlannerInputError naming the instruction id for an empty or over-long instruction."""
    limit = prompt_limit(config, context_length)
    requests = []
    for ins in instructions:
        try:
            rendered = render_prompt(tokenizer, ins.prompt, num_steps, config.enable_thinking, limit)
        except PlannerInputError as exc:
            raise PlannerInputError(f"instruction {ins.instruction_id!r}: {exc}") from None
        for m in range(config.num_plans):
            requests.append(
                PlanRequest(
                    ins.instruction_id,
                    ins.prompt,
                    m,
                    plan_seed(seed, ins.instruction_id, m),
                    tuple(rendered.token_ids),
                    tuple(rendered.messages),
                )
            )
    return requests


def to_record(
    sample: SampledPlan, num_steps: int, joiner: str, think: ThinkTokens, backend: str, split: str = "train"
) -> PlanRecord:
    """Parse and mask one sampled plan into a PlanRecord (a failed sample gets the global-prompt fallback)."""
    r = sample.request
    if sample.error is not None:
        parsed, ids, mask = failed_plan(num_steps, r.instruction, joiner), [], []
    else:
        parsed = parse_plan(sample.raw_text, num_steps, r.instruction, joiner)
        ids, mask = list(sample.completion_ids), completion_mask(sample.completion_ids, think)
    return PlanRecord(
        plan_id=make_plan_id(r.instruction_id, r.plan_index),
        instruction_id=r.instruction_id,
        plan_index=r.plan_index,
        prompt=r.instruction,
        num_steps=num_steps,
        steps=parsed.steps,
        smoothed_steps=parsed.smoothed_steps,
        format_reward=parsed.format_reward,
        parse_status=parsed.status if sample.error is None else STATUS_FAILED,
        raw_text=sample.raw_text,
        prompt_token_ids=list(r.prompt_ids),
        completion_token_ids=ids,
        completion_mask=mask,
        old_logprobs=None,
        adapter_version=sample.adapter_version,
        backend=backend,
        seed=r.seed,
        finish_reason=sample.finish_reason,
        error=sample.error,
        split=split,
    )


def sample_plans(
    sampler: PlanSampler,
    tokenizer,
    instructions: Sequence[Instruction],
    config: PlannerConfig,
    num_steps: int,
    seed: int,
    context_length: int | None = None,
    progress: Progress = no_progress,
) -> list[PlanRecord]:
    """Sample M plans per instruction with `sampler` and return parsed, masked records (old log-probs unset); plans
    sampled of the total go to `progress`."""
    requests = build_requests(tokenizer, instructions, config, num_steps, seed, context_length)
    samples = sampler.sample(requests, progress)
    if len(samples) != len(requests):
        raise RuntimeError(f"backend {sampler.name!r} returned {len(samples)} plans for {len(requests)} requests")
    think = ThinkTokens.from_tokenizer(tokenizer)
    splits = {i.instruction_id: i.split for i in instructions}
    return [
        to_record(s, num_steps, config.smooth_joiner, think, sampler.name, splits[s.request.instruction_id])
        for s in samples
    ]


def record_old_logprobs(planner, records: list[PlanRecord], batch_size: int = 8) -> None:
    """Fill `old_logprobs` of every record from an fp32 forward pass of the planner (the sampling weights);
    asserts that the planner's adapter version is the one that sampled each record."""
    todo = [r for r in records if r.error is None]
    for r in todo:
        if r.adapter_version != planner.adapter_version:
            raise RuntimeError(
                f"plan {r.plan_id} was sampled with adapter {r.adapter_version}, but the loaded "
                f"planner is {planner.adapter_version}; old log-probs must come from the sampling weights"
            )
    # sort by length so micro-batches pad little; results are written back by object
    order = sorted(todo, key=lambda r: len(r.prompt_token_ids) + len(r.completion_token_ids))
    lps = sequence_logprobs(
        planner.model,
        [r.prompt_token_ids for r in order],
        [r.completion_token_ids for r in order],
        planner.tokenizer.pad_token_id,
        batch_size,
    )
    for r, lp in zip(order, lps):
        r.old_logprobs = [float(x) for x in lp]
    for r in records:
        if r.error is not None:
            r.old_logprobs = []
