"""plan stage: sample M plans per instruction with the current planner (DESIGN §2 plan, §4).

The planner is the base model plus the previous step's adapter (update_planner at step − 1), else the
cold-start adapter, else a fresh LoRA. With the `local` backend the old log-probs are recorded here from an fp32
forward pass of the sampling weights; with `openai` they are left null for update_planner to fill after it
asserts that its loaded adapter is the sampling version.
"""
from __future__ import annotations

from collections import Counter

from plotline.planner.backends import BackendContext, make_backend
from plotline.planner.model import adapter_version, load_planner_from_config, load_tokenizer
from plotline.planner.errors import PlannerError
from plotline.planner.records import check_records
from plotline.planner.sampling import Instruction, record_old_logprobs, sample_plans
from stages.base import InputSpec, StageContext, StageSpec, register


def current_adapter(ctx: StageContext) -> str | None:
    """Local folder of the adapter to sample with: last step's update_planner output, else the cold-start one."""
    art = ctx.inputs.get("planner_adapter")
    if art is not None:
        return art.local_dir("adapter")
    return ctx.config.planner.cold_start_adapter


def read_instructions(ctx: StageContext) -> list[Instruction]:
    """The train-split instructions of the instructions artifact."""
    rows = ctx.inputs["instructions"].read_table("instructions.parquet").to_pylist()
    chosen = [Instruction(r["instruction_id"], r["prompt"], r.get("split", "train")) for r in rows
              if r.get("split", "train") == "train"]
    if not chosen:
        raise PlannerError(f"the instructions artifact has no train-split rows ({len(rows)} rows in total)")
    return chosen


def _context_length(base_model: str) -> int | None:
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(base_model), "max_position_embeddings", None)


def run(ctx: StageContext) -> None:
    """Sample, parse and mask M plans per instruction and write plans.parquet (validated with M)."""
    cfg = ctx.config.planner
    if not cfg.base_model:
        raise PlannerError("planner.base_model is not set: it must name a local Qwen3 directory")
    num_steps = ctx.config.video.num_steps
    instructions = read_instructions(ctx)
    adapter = current_adapter(ctx)
    planner = None
    if cfg.backend == "local":
        planner = load_planner_from_config(cfg, adapter, trainable=False, seed=ctx.seed("lora-init"))
        tokenizer, version, context = planner.tokenizer, planner.adapter_version, planner.context_length
    else:
        tokenizer, version, context = load_tokenizer(cfg.base_model), adapter_version(adapter), _context_length(cfg.base_model)
    backend = make_backend(cfg.backend, BackendContext(cfg, tokenizer, version, planner=planner, adapter_path=adapter))
    records = sample_plans(backend, tokenizer, instructions, cfg, num_steps, ctx.seed("sample"), context)
    if planner is not None:
        record_old_logprobs(planner, records, cfg.logprob_batch_size)
    check_records(records)
    ctx.output.write_table("plans.parquet", "plans", [r.to_row() for r in records], params={"M": cfg.num_plans})
    statuses = Counter(r.parse_status for r in records)
    ctx.output.summary.update({
        "plans": len(records), "instructions": len(instructions), "num_steps": num_steps,
        "backend": cfg.backend, "adapter_version": version,
        "format_reward_mean": sum(r.format_reward for r in records) / len(records),
        "parse_status": dict(statuses), "failed": statuses.get("failed", 0),
        "old_logprobs": "recorded" if planner is not None else "pending (update_planner)",
    })


register(StageSpec(
    name="plan",
    summary="Sample M span-aware plans per instruction with the current planner",
    inputs=(InputSpec("instructions", stage="instructions", fixed_step=0),
            InputSpec("planner_adapter", stage="update_planner", step_offset=-1, optional=True)),
    outputs=("plans",),
    config_sections=("video", "planner", "seed"),
    run=run,
))
