"""update_executor stage: Flow-GRPO on the first chunk after the prompt switch (DESIGN §2, §3). Rebuilds each
plan's prefix cache from the stored clean latents, recomputes log-probs for the first trained transitions,
RatioNorm + clipped loss + KL to the adapter-disabled reference on every update; writes the new LoRA adapter
(peft, safetensors), its EMA, and update metrics.

The update itself is `plotline.rl.flow_grpo_job.run_executor_update`: in this process when
`rl.executor.num_processes` is 1, else in `accelerate launch` workers that read local copies of the verified
inputs and hand the adapters and metrics back through a temporary folder; this stage writes and commits."""

from __future__ import annotations

import tempfile
from pathlib import Path

from plotline.rl.flow_grpo_job import ExecutorUpdateInputs, launch_executor_update, run_executor_update
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.provenance import BOOTSTRAP_INPUT, check_same_base, with_bootstrap


def policy_adapter_dir(ctx: StageContext) -> str | None:
    """Local folder of the adapter the update starts from (the previous update's), None for a fresh LoRA."""
    art = ctx.inputs.get("executor_adapter")
    return art.local_dir("adapter") if art is not None else None


def run(ctx: StageContext) -> None:
    """Train the executor LoRA on this step's rollouts and advantages."""
    cfg = with_bootstrap(ctx)
    base = check_same_base(ctx, "rollouts", "executor")
    rollouts, advantages = ctx.inputs["rollouts"], ctx.inputs["advantages"]
    adapter_dir, lora_seed = policy_adapter_dir(ctx), ctx.seed("lora-init")
    version = f"{ctx.run_id}/step={ctx.step:06d}/update_executor"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if cfg.rl.executor.num_processes > 1:
            rows = rollouts.read_table("rollouts.parquet").to_pylist()
            inputs = {
                "rollouts_table": rollouts.local_path("rollouts.parquet"),
                "advantages_table": advantages.local_path("advantages.parquet"),
                "group_files": {p: rollouts.local_path(p) for p in sorted({r["group_path"] for r in rows})},
                "adapter_dir": adapter_dir,
                "lora_seed": lora_seed,
                "version": version,
            }
            result = launch_executor_update(
                cfg.executor, cfg.video, cfg.rl.executor, inputs, out, Path(tmp) / "work", progress=ctx.reporter
            )
        else:
            inputs = ExecutorUpdateInputs(
                rollouts=rollouts.read_table("rollouts.parquet").to_pylist(),
                advantages=advantages.read_table("advantages.parquet").to_pylist(),
                read_group=rollouts.read_tensors,
                adapter_dir=adapter_dir,
                lora_seed=lora_seed,
                version=version,
            )
            result = run_executor_update(
                cfg.executor, cfg.video, cfg.rl.executor, inputs, out, progress=ctx.reporter("flow-grpo")
            )
        ctx.output.write_dir("adapter", str(out / "adapter"))
        if (out / "adapter_ema").is_dir():
            ctx.output.write_dir("adapter_ema", str(out / "adapter_ema"))
    ctx.output.write_table("metrics.parquet", "update_metrics", result.metrics)
    ctx.output.summary.update({**result.summary, "executor_base": base})


register(
    StageSpec(
        name="update_executor",
        summary="Flow-GRPO update of the executor LoRA on the transition chunk; writes the adapter and metrics",
        inputs=(
            InputSpec("rollouts", stage="rollout"),
            InputSpec("advantages", stage="advantage"),
            InputSpec("executor_adapter", stage="update_executor", step_offset=-1, optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("update_metrics",),
        config_sections=("video", "executor", "rl.executor", "seed"),
        run=run,
    )
)
