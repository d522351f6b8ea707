"""plan stage: sample M plans per instruction with the current planner (DESIGN §2 plan, §4).

The planner is the base model plus the previous step's adapter (update_planner at step − 1), else the
cold-start adapter, else a fresh LoRA. With the `local` backend the old log-probs are recorded here from an fp32
forward pass of the sampling weights; with `openai` they are left null for update_planner to fill after it
asserts that its loaded adapter is the sampling version. With the `local` backend and `planner.num_shards` > 1
the instructions are split over device-pinned worker processes (`plotline.planner.sharding`).
"""

from __future__ import annotations

import tempfile
from collections import Counter

from plotline.data.step_batches import step_batch
from plotline.planner.errors import PlannerError
from plotline.planner.model import adapter_version
from plotline.planner.records import check_records
from plotline.planner.sampling import Instruction, sample_plans
from plotline.planner.sharding import sample_local, sample_sharded
from plotline.policy.planners import open_planner
from plotline.policy.reference import policy_from_inputs
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.provenance import BOOTSTRAP_INPUT, base_of, with_bootstrap


def current_adapter(ctx: StageContext) -> str | None:
    """Local folder of the adapter to sample with: last step's update_planner output, else the cold-start one."""
    return policy_from_inputs(ctx.config.planner, ctx.config.executor, ctx.inputs, cold_start=True).planner_adapter


def read_instructions(ctx: StageContext) -> list[Instruction]:
    """The train-split instructions of the instructions artifact (the pool the step's batch is drawn from)."""
    rows = ctx.inputs["instructions"].read_table("instructions.parquet").to_pylist()
    chosen = [
        Instruction(r["instruction_id"], r["prompt"], r.get("split", "train"))
        for r in rows
        if r.get("split", "train") == "train"
    ]
    if not chosen:
        raise PlannerError(f"the instructions artifact has no train-split rows ({len(rows)} rows in total)")
    return chosen


def run(ctx: StageContext) -> None:
    """Sample, parse and mask M plans per instruction and write plans.parquet (validated with M)."""
    cfg = with_bootstrap(ctx).planner
    if not cfg.base_model:
        raise PlannerError("planner.base_model is not set: it must name a local Qwen3 directory")
    num_steps = ctx.config.video.num_steps
    pool = read_instructions(ctx)
    instructions = step_batch(pool, ctx.config.data.instructions_per_step, ctx.step, ctx.config.seed)
    adapter = current_adapter(ctx)
    version = adapter_version(adapter)
    if cfg.backend == "local" and cfg.num_shards > 1:
        with tempfile.TemporaryDirectory() as tmp:
            records = sample_sharded(
                cfg,
                adapter,
                instructions,
                num_steps,
                ctx.seed("sample"),
                ctx.seed("lora-init"),
                tmp,
                progress=ctx.reporter,
            )
    elif cfg.backend == "local":
        records = sample_local(
            cfg, adapter, instructions, num_steps, ctx.seed("sample"), ctx.seed("lora-init"), ctx.reporter("plans")
        )
    else:
        art = ctx.inputs.get("planner_adapter")
        private = art is not None and art.fs.protocol != "file"  # a remote store's adapter: a download-cache copy
        planner = open_planner(cfg, adapter, lora_seed=ctx.seed("lora-init"), adapter_private=private)
        records = sample_plans(
            planner.backend,
            planner.tokenizer,
            instructions,
            cfg,
            num_steps,
            ctx.seed("sample"),
            planner.context_length,
            ctx.reporter("plans"),
        )
    check_records(records)
    ctx.output.write_table("plans.parquet", "plans", [r.to_row() for r in records], params={"M": cfg.num_plans})
    statuses = Counter(r.parse_status for r in records)
    ctx.output.summary.update(
        {
            "plans": len(records),
            "instructions": len(instructions),
            "instruction_pool": len(pool),
            "num_steps": num_steps,
            "backend": cfg.backend,
            "adapter_version": version,
            "planner_base": base_of(ctx, "planner"),
            "format_reward_mean": sum(r.format_reward for r in records) / len(records),
            "parse_status": dict(statuses),
            "failed": statuses.get("failed", 0),
            "old_logprobs": "recorded" if cfg.backend == "local" else "pending (update_planner)",
        }
    )


register(
    StageSpec(
        name="plan",
        summary="Sample M span-aware plans per instruction with the current planner",
        inputs=(
            InputSpec("instructions", stage="instructions", fixed_step=0),
            InputSpec("planner_adapter", stage="update_planner", step_offset=-1, optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("plans",),
        config_sections=("video", "planner", "data", "seed"),
        run=run,
    )
)
