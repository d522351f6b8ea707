"""update_planner stage: one GSPO update of the planner LoRA from this step's plans and planner advantages
(DESIGN §2, §4). Loads base + the adapter that sampled the plans (asserting its version), fills old log-probs
when the `openai` backend left them null, computes the KL reference (the starting planner by default), trains,
and writes the new adapter (peft format, loadable by vLLM) plus update metrics.

The update itself is `plotline.planner.gspo_job.run_planner_update`: in this process when
`rl.planner.num_processes` is 1, else in `accelerate launch` workers that read local copies of the verified
inputs and hand the adapter and metrics back through a temporary folder; this stage writes and commits."""

from __future__ import annotations

import tempfile
from pathlib import Path

from plotline.planner.gspo_job import (
    PlannerUpdateInputs,
    PlannerVersionMismatch,
    launch_planner_update,
    planner_advantages,
    run_planner_update,
)
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.plan import current_adapter
from stages.provenance import BOOTSTRAP_INPUT, check_same_base, with_bootstrap

__all__ = ["PlannerVersionMismatch", "planner_advantages", "run"]


def run(ctx: StageContext) -> None:
    """GSPO-update the planner adapter and write `adapter/` and metrics.parquet."""
    cfg = with_bootstrap(ctx)
    base = check_same_base(ctx, "plans", "planner")
    plans, advantages = ctx.inputs["plans"], ctx.inputs["advantages"]
    adapter, lora_seed, gspo_seed = current_adapter(ctx), ctx.seed("lora-init"), ctx.seed("gspo")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if cfg.rl.planner.num_processes > 1:
            inputs = {
                "plans_table": plans.local_path("plans.parquet"),
                "advantages_table": advantages.local_path("advantages.parquet"),
                "adapter": adapter,
                "lora_seed": lora_seed,
                "gspo_seed": gspo_seed,
            }
            result = launch_planner_update(
                cfg.planner, cfg.rl.planner, inputs, out, Path(tmp) / "work", progress=ctx.reporter
            )
        else:
            inputs = PlannerUpdateInputs(
                plans=plans.read_table("plans.parquet").to_pylist(),
                advantages=advantages.read_table("advantages.parquet").to_pylist(),
                adapter=adapter,
                lora_seed=lora_seed,
                gspo_seed=gspo_seed,
            )
            result = run_planner_update(cfg.planner, cfg.rl.planner, inputs, out, progress=ctx.reporter("gspo"))
        ctx.output.write_dir("adapter", str(out / "adapter"))
    ctx.output.write_table("metrics.parquet", "update_metrics", result.metrics)
    ctx.output.summary.update({**result.summary, "planner_base": base})


register(
    StageSpec(
        name="update_planner",
        summary="GSPO update of the planner LoRA from plans and planner advantages",
        inputs=(
            InputSpec("plans", stage="plan"),
            InputSpec("advantages", stage="advantage"),
            InputSpec("planner_adapter", stage="update_planner", step_offset=-1, optional=True),
            BOOTSTRAP_INPUT,
        ),
        outputs=("update_metrics",),
        config_sections=("planner", "rl.planner", "seed"),
        run=run,
    )
)
