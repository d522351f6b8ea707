"""A tiny, already-competent planner for CPU tests: a tiny Qwen3 pre-trained (SFT, full weights) on template
plans, and an optional cold-start LoRA adapter trained on top of it. Nothing is downloaded."""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch

from plotline.planner.prompts import PLANNER_SYSTEM_PROMPT, PLANNER_USER_PROMPT, render_prompt
from plotline.progress import Progress
from plotline.tiny.lm import build_tiny_qwen3

SHAPES = ("red square", "blue circle", "green triangle", "yellow star")
MOVES = ("moves right", "moves left", "jumps up", "spins around")


def shape_instructions(n: int = 4) -> list[str]:
    """`n` two-event shapes-world instructions ("a red square moves right, then turns blue")."""
    out = []
    for i in range(n):
        shape, move = SHAPES[i % len(SHAPES)], MOVES[(i // len(SHAPES) + i) % len(MOVES)]
        out.append(f"a {shape} {move}, then grows")
    return out


def plan_variants(instruction: str, word: str = "slowly") -> list[str]:
    """Four JSON answers for a two-event instruction: 2 steps with `word`, 2 steps without, 3 steps, 1 step."""
    subject, rest = instruction[2:].split(" ", 2)[:2], instruction[2:].split(" ", 2)[2]
    noun = " ".join(subject)
    first, _ = rest.split(", then ")
    a, b = f"The {noun} {first}", f"The {noun} grows"
    return [
        json.dumps([f"{a} {word}.", f"{b} {word}."]),
        json.dumps([f"{a}.", f"{b}."]),
        json.dumps([f"{a}.", f"The {noun} stops.", f"{b}."]),
        json.dumps([f"{a} and grows."]),
    ]


def _corpus(instructions: Sequence[str], word: str) -> list[str]:
    texts = [PLANNER_SYSTEM_PROMPT.format(num_steps=n) for n in (1, 2, 3)]
    texts += [PLANNER_USER_PROMPT.format(instruction=i, num_steps=2) for i in instructions]
    texts += [v for i in instructions for v in plan_variants(i, word)]
    return texts


def sft(
    model,
    tokenizer,
    pairs: Sequence[tuple[list[int], list[int]]],
    steps: int,
    lr: float,
    batch_size: int = 16,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """Teacher-forced cross-entropy on the completion tokens of (prompt ids, completion ids) pairs; returns the
    last loss. Trains whatever parameters require grad; `progress(step, steps, loss)` after every step."""
    from plotline.planner.logprobs import completion_logprobs, pack

    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        idx = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=gen).tolist()
        chosen = [pairs[i] for i in idx]
        batch = pack([p for p, _ in chosen], [c for _, c in chosen], tokenizer.pad_token_id)
        lp = completion_logprobs(model, batch)
        mask = torch.zeros_like(lp)
        for i, (_, c) in enumerate(chosen):
            mask[i, : len(c)] = 1.0
        loss = -(lp * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps, float(loss.detach()))
    model.eval()
    return float(loss.detach())


def _pairs(
    tokenizer, instructions: Sequence[str], answers: dict[str, list[str]], num_steps: int, enable_thinking: bool = False
) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for ins in instructions:
        prompt = render_prompt(tokenizer, ins, num_steps, enable_thinking).token_ids
        for ans in answers[ins]:
            pairs.append(
                (prompt, list(tokenizer(ans, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id])
            )
    return pairs


def build_tiny_planner_base(
    path: str | Path,
    instructions: Sequence[str] | None = None,
    word: str = "slowly",
    num_steps: int = 2,
    steps: int = 150,
    lr: float = 1e-2,
    seed: int = 0,
) -> Path:
    """A tiny Qwen3 whose full weights were fine-tuned to answer planner prompts with one of `plan_variants`
    (roughly uniformly, so a verifiable reward has room to grow). Saved with save_pretrained; returns the path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    instructions = list(instructions or shape_instructions())
    path = build_tiny_qwen3(
        path,
        corpus=_corpus(instructions, word),
        seed=seed,
        vocab_size=640,
        hidden_size=64,
        num_layers=2,
        max_positions=1024,
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    torch.manual_seed(seed)
    answers = {i: plan_variants(i, word) for i in instructions}
    sft(model, tokenizer, _pairs(tokenizer, instructions, answers, num_steps), steps=steps, lr=lr, seed=seed)
    model.save_pretrained(path)
    return Path(path)


def train_cold_start_adapter(
    base_path: str | Path,
    out_dir: str | Path,
    instructions: Sequence[str] | None = None,
    word: str = "slowly",
    num_steps: int = 2,
    steps: int = 10,
    lr: float = 5e-3,
    rank: int = 4,
    seed: int = 0,
) -> Path:
    """A cold-start LoRA adapter: a few SFT steps of a fresh adapter on the answers that carry `word`; saved in
    PEFT format with our base fingerprint. Returns `out_dir`."""
    from plotline.planner.config import PlannerLoraConfig
    from plotline.planner.model import load_planner, save_adapter

    instructions = list(instructions or shape_instructions())
    planner = load_planner(
        base_path, None, trainable=True, lora=PlannerLoraConfig(rank=rank, alpha=2.0 * rank), seed=seed
    )
    answers = {i: plan_variants(i, word)[:1] for i in instructions}
    sft(
        planner.model,
        planner.tokenizer,
        _pairs(planner.tokenizer, instructions, answers, num_steps),
        steps=steps,
        lr=lr,
        seed=seed,
    )
    save_adapter(planner, out_dir)
    return Path(out_dir)


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run the block with `n` intra-op torch threads (tiny models are much faster single-threaded on a shared CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@cache
def cached_tiny_planner(word: str = "slowly", num_steps: int = 2, seed: int = 0) -> tuple[Path, Path]:
    """(base path, cold-start adapter path) built once per process in a temp folder removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="plotline-tiny-planner-"))
    atexit.register(shutil.rmtree, root, True)
    with torch_threads(1):
        base = build_tiny_planner_base(root / "base", word=word, num_steps=num_steps, seed=seed)
        adapter = train_cold_start_adapter(base, root / "cold_start", word=word, num_steps=num_steps, seed=seed)
    return base, adapter
