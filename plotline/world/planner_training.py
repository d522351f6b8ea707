"""Bootstrap of the world planner: a tiny Qwen3 (plotline.tiny.lm) with a byte-level BPE tokenizer
trained on the world's texts, then full-weight SFT on template plans — the ground-truth steps as the JSON array
the planner prompt asks for — a share of them corrupted (plotline.world.plans), so the planner is competent
but imperfect and group-relative RL has mistakes to remove."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from plotline.planner.prompts import PLANNER_SYSTEM_PROMPT, PLANNER_USER_PROMPT, render_prompt
from plotline.progress import Progress, phase
from plotline.world.bootstrap_config import PlannerBootstrapConfig
from plotline.world.config import WorldConfig
from plotline.world.instructions import WorldInstruction, generate_instructions
from plotline.world.plans import noisy_plan, template_plan

LR_PHASES = ((0.5, 1.0), (0.3, 0.3), (0.2, 0.1))
"""(share of the SFT steps, learning-rate factor): a step-decayed schedule over successive `sft` calls."""


def sft_instructions(world: WorldConfig, count: int) -> list[WorldInstruction]:
    """`count` training-split instructions of this world that are none of the run's own instructions (neither
    the RL training nor the evaluation prompts, and never a held-out combination): to the warm-started planner,
    the prompts RL trains on are as new as the ones it is evaluated on, so what RL fixes on the former carries
    over to the latter (instead of undoing what the SFT memorised for those very prompts)."""
    run = {i.prompt for i in generate_instructions(world)}
    cfg = world.model_copy(update={"num_train_instructions": count + len(run), "num_eval_instructions": 0})
    return [i for i in generate_instructions(cfg) if i.prompt not in run][:count]


def plan_json(steps: Sequence[str]) -> str:
    """A plan as the planner answers it: a JSON array of step strings."""
    return json.dumps(list(steps))


CHAT_ROLES = "system\nuser\nassistant\n"
"""Role names of the chat template (so each is one token of the world tokenizer)."""


def tokenizer_corpus(instructions: Sequence[WorldInstruction], num_steps: int) -> list[str]:
    """Texts the world tokenizer is trained on: the planner prompts, chat roles and template plans."""
    texts = [PLANNER_SYSTEM_PROMPT.format(num_steps=num_steps)] + [CHAT_ROLES] * 50
    for ins in instructions:
        texts.append(PLANNER_USER_PROMPT.format(instruction=ins.prompt, num_steps=num_steps))
        texts.append(plan_json(template_plan(ins.scenario, num_steps)))
    return texts


def phrase_tokens(world: WorldConfig, num_steps: int) -> list[str]:
    """Whole phrases added to the tokenizer as single tokens: the planner's fixed system prompt for J =
    `num_steps`, every coloured shape (" red square") and every event's verb phrase (" moves to the right",
    " turns blue"), each with its leading space. A planner prompt is then ~50 tokens instead of ~220, a plan
    step is a handful of tokens, and copying an event from the instruction is copying one token. (A changed
    system prompt no longer matches its token and is tokenised word by word.)"""
    from plotline.world.actions import ACTIONS

    subjects = [f" {c} {s}" for c in world.colours for s in world.shapes]
    return [PLANNER_SYSTEM_PROMPT.format(num_steps=num_steps)] + subjects + [f" {a.present}" for a in ACTIONS.values()]


def add_phrase_tokens(path: str | Path, phrases: Sequence[str], seed: int = 0) -> None:
    """Add `phrases` as (non-special) tokens to the saved tokenizer at `path` and grow the saved model's
    embeddings to match (new rows initialised by transformers from torch's RNG, seeded with `seed` so the
    warm start is reproducible)."""
    import torch
    from tokenizers import AddedToken
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_tokens([AddedToken(p, normalized=False, special=False) for p in phrases])
    model = AutoModelForCausalLM.from_pretrained(path)
    torch.manual_seed(seed)
    model.resize_token_embeddings(len(tokenizer))
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)


def sft_pairs(
    tokenizer,
    instructions: Sequence[WorldInstruction],
    num_steps: int,
    cfg: PlannerBootstrapConfig,
    enable_thinking: bool,
    seed: int,
) -> tuple[list[tuple[list[int], list[int]]], dict[str, int]]:
    """(prompt ids, completion ids + eos) pairs — `targets_per_instruction` noisy template plans per
    instruction — and how many targets each corruption produced."""
    rng = random.Random(seed)
    pairs: list[tuple[list[int], list[int]]] = []
    counts: dict[str, int] = {}
    for ins in instructions:
        prompt = render_prompt(tokenizer, ins.prompt, num_steps, enable_thinking).token_ids
        for _ in range(cfg.targets_per_instruction):
            steps, kind = noisy_plan(ins.scenario, num_steps, rng, cfg.corruptions, ins.phrasing)
            counts[kind] = counts.get(kind, 0) + 1
            ids = list(tokenizer(plan_json(steps), add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
            pairs.append((list(prompt), ids))
    return pairs, counts


def build_planner(
    path: str | Path,
    world: WorldConfig,
    num_steps: int,
    cfg: PlannerBootstrapConfig,
    enable_thinking: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Build, SFT and save (save_pretrained: weights, tokenizer, chat template) the world planner base at
    `path`. Returns a summary (final loss, corruption counts, sizes). `progress(step, steps, loss)` after every
    SFT step, counted over all learning-rate phases."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from plotline.tiny.lm import build_tiny_qwen3
    from plotline.tiny.planner import sft

    instructions = sft_instructions(world, cfg.sft_instructions)
    path = build_tiny_qwen3(
        path,
        corpus=tokenizer_corpus(instructions, num_steps),
        seed=seed,
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        num_kv_heads=cfg.num_kv_heads,
        max_positions=1024,
    )
    add_phrase_tokens(path, phrase_tokens(world, num_steps), seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    pairs, counts = sft_pairs(tokenizer, instructions, num_steps, cfg, enable_thinking, seed)
    torch.manual_seed(seed)
    loss = float("nan")
    phase_steps = [max(1, round(cfg.steps * share)) for share, _ in LR_PHASES]
    for i, (share, factor) in enumerate(LR_PHASES):
        loss = sft(
            model,
            tokenizer,
            pairs,
            steps=max(1, round(cfg.steps * share)),
            lr=cfg.learning_rate * factor,
            batch_size=cfg.batch_size,
            seed=seed + i,
            progress=phase(progress, sum(phase_steps[:i]), sum(phase_steps)),
        )
    model.save_pretrained(path)
    return {
        "planner_sft_loss": loss,
        "planner_sft_pairs": len(pairs),
        "planner_targets": counts,
        "planner_prompt_tokens": len(pairs[0][0]),
        "planner_vocab": len(tokenizer),
        "planner_parameters": sum(p.numel() for p in model.parameters()),
    }
