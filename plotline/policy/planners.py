"""The policy's planner: the one loader (`open_planner`, defined in plotline.planner.loading so that the plan
workers below this layer share it), one plan per prompt for evaluation and generation, and the plan reviser the
reflection loop receives."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from plotline.planner.config import PlannerConfig
from plotline.planner.loading import OpenedPlanner, open_planner
from plotline.reflect.config import ReflectConfig
from plotline.reflect.revise import PlanReviser, make_reviser

__all__ = ["OpenedPlanner", "PlanPrompt", "PlannedPrompt", "open_planner", "open_reviser", "plan_prompts"]


@dataclass(frozen=True)
class PlanPrompt:
    """One prompt to plan: a unique key (it names the plan's sampling seed), the text and J steps."""

    key: str
    prompt: str
    num_steps: int


@dataclass
class PlannedPrompt:
    """The planner's output for one prompt."""

    steps: list[str]
    status: str
    adapter_version: str


def plan_prompts(
    config: PlannerConfig, adapter: str | None, prompts: Sequence[PlanPrompt], seed: int, lora_seed: int = 0
) -> tuple[dict[str, PlannedPrompt], float]:
    """One plan per prompt (`config.num_plans` should be 1) with the configured backend, prompts of equal J
    sampled together in order of J; returns key → PlannedPrompt and the seconds spent, loading included."""
    from plotline.planner.sampling import Instruction, sample_plans

    start = time.perf_counter()
    planner = open_planner(config, adapter, lora_seed=lora_seed)
    by_steps: dict[int, list[PlanPrompt]] = {}
    for p in prompts:
        by_steps.setdefault(p.num_steps, []).append(p)
    out: dict[str, PlannedPrompt] = {}
    for num_steps, group in sorted(by_steps.items()):
        instructions = [Instruction(p.key, p.prompt, "eval") for p in group]
        records = sample_plans(
            planner.backend, planner.tokenizer, instructions, config, num_steps, seed, planner.context_length
        )
        for p, rec in zip(group, records):
            out[p.key] = PlannedPrompt(list(rec.steps), rec.parse_status, rec.adapter_version)
    return out, time.perf_counter() - start


def open_reviser(
    reflect: ReflectConfig, planner: PlannerConfig, adapter: str | None, seed: int, lora_seed: int = 0
) -> PlanReviser:
    """The plan reviser `reflect.reviser` over the planner of `planner` (+ `adapter`), opened with the one loader
    (one plan per request), prompting with `reflect.revision_prompt`."""
    cfg = planner.model_copy(update={"num_plans": 1})
    opened = open_planner(cfg, adapter, lora_seed=lora_seed)
    return make_reviser(
        reflect.reviser,
        sampler=opened.backend,
        tokenizer=opened.tokenizer,
        config=cfg,
        seed=seed,
        prompt=reflect.revision_prompt,
        context_length=opened.context_length,
    )
