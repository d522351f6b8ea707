"""Plan sampling with the `local` backend, in this process or sharded across device-pinned worker processes.

`sample_local` is the whole local-backend job (load the planner, sample M plans per instruction, parse, mask,
record fp32 old log-probs). `sample_sharded` splits the instructions into contiguous runs whose request counts
are multiples of `batch_size`, so every shard generates exactly the `generate` batches (same prompts, same
per-batch seed) an unsharded run would: the merged plans have the same tokens and text. Old log-probs are
recomputed per shard in length-sorted micro-batches of other compositions, so they agree to float tolerance.
Each shard is the `plan_shard` job of the one worker entry point (`plotline.parallel.worker`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from plotline.parallel.jobs import WorkerContext, job_spec, register_job
from plotline.parallel.launch import run_shards, shard_devices
from plotline.parallel.progress import ProgressFactory
from plotline.planner.config import PlannerConfig
from plotline.planner.loading import open_planner
from plotline.planner.records import PlanRecord
from plotline.planner.sampling import Instruction, record_old_logprobs, sample_plans
from plotline.progress import Progress, no_progress

PLAN_SHARD = "plan_shard"
"""Job kind of one plan shard."""


def sample_local(
    config: PlannerConfig,
    adapter: str | None,
    instructions: Sequence[Instruction],
    num_steps: int,
    sample_seed: int,
    lora_seed: int,
    progress: Progress = no_progress,
) -> list[PlanRecord]:
    """Load the planner (base + `adapter`, else a fresh LoRA seeded by `lora_seed`), sample, parse and mask M
    plans per instruction with the `local` backend (plans sampled go to `progress`), and record their old
    log-probs from the sampling weights."""
    if config.backend != "local":
        raise ValueError(f"sample_local samples with the `local` backend; planner.backend is {config.backend!r}")
    planner = open_planner(config, adapter, lora_seed=lora_seed)
    records = sample_plans(
        planner.backend,
        planner.tokenizer,
        list(instructions),
        config,
        num_steps,
        sample_seed,
        planner.context_length,
        progress,
    )
    record_old_logprobs(planner.model, records, config.logprob_batch_size)
    return records


def instructions_per_block(num_plans: int, batch_size: int) -> int:
    """Fewest instructions whose M plans fill whole `generate` batches: lcm(M, batch_size) / M."""
    return math.lcm(num_plans, batch_size) // num_plans


def shard_instructions(
    instructions: Sequence[Instruction], num_shards: int, num_plans: int, batch_size: int
) -> list[list[Instruction]]:
    """At most `num_shards` non-empty contiguous runs of instructions, each cut at a `generate` batch boundary
    (see `instructions_per_block`), of about equal size."""
    block = instructions_per_block(num_plans, batch_size)
    blocks = [list(instructions[i : i + block]) for i in range(0, len(instructions), block)]
    n = max(1, min(num_shards, len(blocks)))
    shards = [[ins for b in blocks[s * len(blocks) // n : (s + 1) * len(blocks) // n] for ins in b] for s in range(n)]
    return [s for s in shards if s]


def sample_sharded(
    config: PlannerConfig,
    adapter: str | None,
    instructions: Sequence[Instruction],
    num_steps: int,
    sample_seed: int,
    lora_seed: int,
    workdir: str | Path,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> list[PlanRecord]:
    """`sample_local` over `config.num_shards` concurrent worker processes (pinned to GPUs per
    `shard_devices`, or to the CPU); records come back in instruction order. A failed shard stops the others
    and raises its error (see `plotline.parallel.launch`); shards still running after `timeout_s` are stopped
    (WorkerError). Shard i's plans sampled go to `progress("shard <i> plans")`."""
    shards = shard_instructions(instructions, config.num_shards, config.num_plans, config.batch_size)
    devices = shard_devices(len(shards), config.device, config.shard_devices)
    specs = [
        job_spec(
            PLAN_SHARD,
            sections={"planner": config},
            out_dir=str(Path(workdir) / "out"),
            inputs={
                "adapter": adapter,
                "num_steps": num_steps,
                "sample_seed": sample_seed,
                "lora_seed": lora_seed,
                "instructions": [[i.instruction_id, i.prompt, i.split] for i in shard],
            },
        )
        for shard in shards
    ]
    results = run_shards(specs, devices, workdir, what="plan", timeout_s=timeout_s, progress=progress)
    return [PlanRecord.from_row(r) for rows in results for r in rows]


@register_job(PLAN_SHARD)
def plan_shard(ctx: WorkerContext) -> list[dict]:
    """One plan shard: `sample_local` on the spec's instructions, on this worker's device; the records' rows."""
    config = ctx.section("planner", PlannerConfig, device=ctx.device)
    instructions = [Instruction(*row) for row in ctx.input("instructions")]
    records = sample_local(
        config,
        ctx.input("adapter"),
        instructions,
        ctx.input("num_steps"),
        ctx.input("sample_seed"),
        ctx.input("lora_seed"),
        ctx.reporter("plans"),
    )
    return [r.to_row() for r in records]
