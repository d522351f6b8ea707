"""update_planner stage: one GSPO update of the planner LoRA from this step's plans and planner advantages
(DESIGN §2, §4). Loads base + the adapter that sampled the plans (asserting its version), fills old log-probs
when the `openai` backend left them null, computes the KL reference (the starting planner by default), trains,
and writes the new adapter (peft format, loadable by vLLM) plus update metrics. Single process on CPU; under
`accelerate launch` each process runs the same code on its own device."""
from __future__ import annotations

import tempfile
from pathlib import Path


from plotline.planner.model import load_planner_from_config, save_adapter
from plotline.planner.records import PlanRecord
from plotline.planner.sampling import record_old_logprobs
from plotline.planner.training import gspo_step, trainable_records
from stages.base import InputSpec, StageContext, StageSpec, register
from stages.plan import current_adapter


class PlannerVersionMismatch(RuntimeError):
    """The plans were sampled by another adapter than the one this update starts from."""


def planner_advantages(rows: list[dict]) -> dict[str, float]:
    """plan_id -> advantage of the kept planner rows of the advantages artifact."""
    return {r["plan_id"]: float(r["advantage"]) for r in rows
            if r["role"] == "planner" and r["keep"] and r["advantage"] is not None}


def run(ctx: StageContext) -> None:
    """GSPO-update the planner adapter and write `adapter/` and metrics.parquet."""
    cfg, gspo = ctx.config.planner, ctx.config.rl.planner
    records = [PlanRecord.from_row(r) for r in ctx.inputs["plans"].read_table("plans.parquet").to_pylist()]
    adapter = current_adapter(ctx)
    planner = load_planner_from_config(cfg, adapter, trainable=True, seed=ctx.seed("lora-init"))
    sampled = {r.adapter_version for r in records if r.error is None}
    if sampled - {planner.adapter_version}:
        raise PlannerVersionMismatch(
            f"plans were sampled with planner adapter(s) {sorted(sampled)}, but this update starts from "
            f"{planner.adapter_version!r} ({adapter or 'fresh LoRA'})")
    if any(r.old_logprobs is None for r in records if r.error is None):
        record_old_logprobs(planner, records, cfg.logprob_batch_size)
    advantages = planner_advantages(ctx.inputs["advantages"].read_table("advantages.parquet").to_pylist())
    chosen = [r for r in trainable_records(records) if r.plan_id in advantages]
    metrics = gspo_step(planner, chosen, advantages, gspo, start_adapter=cfg.cold_start_adapter,
                        seed=ctx.seed("gspo"), logprob_batch_size=cfg.logprob_batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        version = save_adapter(planner, Path(tmp) / "adapter")
        ctx.output.write_dir("adapter", str(Path(tmp) / "adapter"))
    rows = [{"role": "planner", "iteration": i, "metric": k, "value": float(v)}
            for i, m in enumerate(metrics) for k, v in m.items()]
    if not rows:
        rows = [{"role": "planner", "iteration": 0, "metric": "trained_plans", "value": 0.0}]
    ctx.output.write_table("metrics.parquet", "update_metrics", rows)
    ctx.output.summary.update({
        "start_adapter_version": planner.adapter_version, "adapter_version": version,
        "trained_plans": len(chosen), "plans": len(records), "optimizer_steps": len(metrics),
        "loss_mean": sum(m["loss"] for m in metrics) / len(metrics) if metrics else 0.0,
        "kl_reference": gspo.reference,
    })


register(StageSpec(
    name="update_planner",
    summary="GSPO update of the planner LoRA from plans and planner advantages",
    inputs=(InputSpec("plans", stage="plan"), InputSpec("advantages", stage="advantage"),
            InputSpec("planner_adapter", stage="update_planner", step_offset=-1, optional=True)),
    outputs=("update_metrics",),
    config_sections=("planner", "rl.planner", "seed"),
    run=run,
))
