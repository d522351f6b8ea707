"""update_executor stage: Flow-GRPO on the first chunk after the prompt switch (DESIGN §2, §3). Rebuilds each
plan's prefix cache from the stored clean latents, recomputes log-probs for the first trained transitions,
RatioNorm + clipped loss + KL to the adapter-disabled reference on every update; writes the new LoRA adapter
(peft, safetensors), its EMA, and update metrics."""
from __future__ import annotations

import tempfile
from collections import defaultdict

import torch

from plotline.executor.executor import build_executor
from plotline.executor.lora import attach_lora, load_adapter, save_adapter
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer
from plotline.rl.flow_grpo_update import build_group, check_versions, executor_advantages
from stages.base import InputSpec, StageContext, StageSpec, register


def policy_model(ctx: StageContext, ex):
    """(peft model, starting version): the previous adapter made trainable, or a fresh seeded LoRA."""
    rl = ctx.config.rl.executor
    art = ctx.inputs.get("executor_adapter")
    if art is not None:
        peft = load_adapter(ex.model, art.local_dir("adapter"), ex.backbone, trainable=True)
        return peft, str(peft.plotline_meta["version"])
    with torch.random.fork_rng():
        torch.manual_seed(ctx.seed("lora-init"))
        return attach_lora(ex.model, rl.lora_rank, rl.lora_alpha, rl.lora_targets), "base"


def run(ctx: StageContext) -> None:
    """Train the executor LoRA on this step's rollouts and advantages."""
    cfg = ctx.config
    ex = build_executor(cfg.executor, cfg.video)
    peft, start_version = policy_model(ctx, ex)
    rollouts = ctx.inputs["rollouts"].read_table("rollouts.parquet").to_pylist()
    check_versions(rollouts, start_version)
    adv = executor_advantages(ctx.inputs["advantages"].read_table("advantages.parquet").to_pylist())
    by_plan: dict[str, list[dict]] = defaultdict(list)
    for r in rollouts:
        by_plan[r["plan_id"]].append(r)
    trainer = FlowGRPOTrainer(peft, ex.generator, cfg.rl.executor)
    metrics, it = [], 0
    for epoch in range(cfg.rl.executor.inner_epochs):
        for pid in ctx.progress(sorted(by_plan), description=f"update_executor epoch {epoch}"):
            rows = by_plan[pid]
            tensors = ctx.inputs["rollouts"].read_tensors(rows[0]["group_path"])
            group = build_group(rows, tensors, adv, ex.encode(list(rows[0]["span_prompts"])))
            if group is None:
                continue
            m = trainer.accumulate(group)
            metrics += [{"role": "executor", "iteration": it, "metric": k, "value": float(v)} for k, v in m.items()]
            it += 1
    trainer.flush()
    version = f"{ctx.run_id}/step={ctx.step:06d}/update_executor"
    with tempfile.TemporaryDirectory() as tmp:
        ctx.output.write_dir("adapter", str(save_adapter(peft, f"{tmp}/adapter", ex.backbone, version)))
        if cfg.rl.executor.use_ema:
            with trainer.ema_weights():
                ctx.output.write_dir("adapter_ema", str(save_adapter(peft, f"{tmp}/ema", ex.backbone, version + "+ema")))
    metrics.append({"role": "executor", "iteration": it, "metric": "optimizer_steps",
                    "value": float(trainer.state.optimizer_steps)})
    ctx.output.write_table("metrics.parquet", "update_metrics", metrics)
    summary = {"groups": it, "optimizer_steps": trainer.state.optimizer_steps, "adapter_version": version,
               "started_from": start_version}
    for key in ("loss", "kl", "ratio_mean", "clip_fraction", "grad_norm"):
        vals = [m["value"] for m in metrics if m["metric"] == key]
        if vals:
            summary[f"{key}_mean"] = sum(vals) / len(vals)
    ctx.output.summary.update(summary)


register(StageSpec(
    name="update_executor",
    summary="Flow-GRPO update of the executor LoRA on the transition chunk; writes the adapter and metrics",
    inputs=(InputSpec("rollouts", stage="rollout"), InputSpec("advantages", stage="advantage"),
            InputSpec("executor_adapter", stage="update_executor", step_offset=-1, optional=True)),
    outputs=("update_metrics",),
    config_sections=("video", "executor", "rl.executor", "seed"),
    run=run,
))
