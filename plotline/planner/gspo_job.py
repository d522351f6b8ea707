"""The planner's GSPO update as one store-free job, shared by the update_planner stage (one process) and its
data-parallel workers (the `planner_update` job of `plotline.parallel.worker`, under `accelerate launch`).

Loads base + the adapter that sampled the plans (asserting its version), fills old log-probs when the `openai`
backend left them null, computes the KL reference (the starting planner by default) and runs `gspo_step`. With
N ranks the reference passes and each mini-batch's micro-batches are shared out and the gradients summed before
every step (see `plotline.rl.gspo.gspo_update`), so N ranks take the same steps as one process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from plotline.parallel.collective import Collective
from plotline.parallel.jobs import WorkerContext, job_spec, register_job
from plotline.parallel.launch import launch_accelerate, uses_cuda
from plotline.parallel.progress import ProgressFactory
from plotline.planner.config import PlannerConfig
from plotline.planner.model import load_planner_from_config, save_adapter
from plotline.planner.records import PlanRecord
from plotline.planner.sampling import record_old_logprobs
from plotline.planner.trainable import require_trainable_plans
from plotline.planner.training import gspo_step, trainable_records
from plotline.progress import Progress, no_progress
from plotline.rl.finite import NonFiniteError
from plotline.rl.gspo_config import GSPOConfig
from plotline.rl.update_result import UpdateResult

PLANNER_UPDATE = "planner_update"
"""Job kind of one data-parallel rank of the planner update."""


class PlannerVersionMismatch(RuntimeError):
    """The plans were sampled by another adapter than the one this update starts from."""


def planner_advantages(rows: list[dict]) -> dict[str, float]:
    """plan_id -> advantage of the kept planner rows of the advantages artifact; a non-finite advantage raises
    NonFiniteError naming the plan (it is never dropped silently)."""
    out = {
        r["plan_id"]: float(r["advantage"])
        for r in rows
        if r["role"] == "planner" and r["keep"] and r["advantage"] is not None
    }
    bad = [pid for pid, a in out.items() if not math.isfinite(a)]
    if bad:
        raise NonFiniteError(
            f"planner update: non-finite advantage for plan(s) {', '.join(bad[:5])}"
            f"{' ...' if len(bad) > 5 else ''}; refusing to update"
        )
    return out


@dataclass
class PlannerUpdateInputs:
    """Everything the update reads, without the store."""

    plans: list[dict]
    """Rows of plans.parquet."""
    advantages: list[dict]
    """Rows of advantages.parquet (only kept planner rows are used)."""
    adapter: str | None
    """Local folder of the adapter that sampled the plans (None: a fresh LoRA)."""
    lora_seed: int
    """Seed of a fresh LoRA's initialisation."""
    gspo_seed: int
    """Seed of the mini-batch permutation."""


def run_planner_update(
    cfg: PlannerConfig,
    gspo: GSPOConfig,
    inputs: PlannerUpdateInputs,
    out_dir: str | Path,
    *,
    collective: Collective | None = None,
    device: str | None = None,
    progress: Progress = no_progress,
) -> UpdateResult:
    """GSPO-update the planner adapter (config sections `planner`, `rl.planner`); rank 0 writes
    `out_dir/adapter`. Every rank returns the same result. `progress(step, steps, loss)` after every optimiser
    step."""
    coll = collective or Collective()
    if device is not None:
        cfg = cfg.model_copy(update={"device": device})
    records = [PlanRecord.from_row(r) for r in inputs.plans]
    planner = load_planner_from_config(cfg, inputs.adapter, trainable=True, seed=inputs.lora_seed)
    sampled = {r.adapter_version for r in records if r.error is None}
    if sampled - {planner.adapter_version}:
        raise PlannerVersionMismatch(
            f"plans were sampled with planner adapter(s) {sorted(sampled)}, but this update starts from "
            f"{planner.adapter_version!r} ({inputs.adapter or 'fresh LoRA'})"
        )
    if any(r.old_logprobs is None for r in records if r.error is None):
        record_old_logprobs(planner, records, cfg.logprob_batch_size)
    advantages = planner_advantages(inputs.advantages)
    chosen = [r for r in trainable_records(records) if r.plan_id in advantages]
    require_trainable_plans(records, advantages, chosen)
    metrics = gspo_step(
        planner,
        chosen,
        advantages,
        gspo,
        start_adapter=cfg.cold_start_adapter,
        seed=inputs.gspo_seed,
        logprob_batch_size=cfg.logprob_batch_size,
        collective=coll,
        progress=progress,
    )
    version = save_adapter(planner, Path(out_dir) / "adapter") if coll.is_main else None
    version = coll.gather([version])[0]
    rows = [
        {"role": "planner", "iteration": i, "metric": k, "value": float(v)}
        for i, m in enumerate(metrics)
        for k, v in m.items()
    ]
    if not rows:
        rows = [{"role": "planner", "iteration": 0, "metric": "trained_plans", "value": 0.0}]
    summary = {
        "start_adapter_version": planner.adapter_version,
        "adapter_version": version,
        "trained_plans": len(chosen),
        "plans": len(records),
        "optimizer_steps": len(metrics),
        "loss_mean": sum(m["loss"] for m in metrics) / len(metrics) if metrics else 0.0,
        "kl_reference": gspo.reference,
        "num_processes": coll.world_size,
    }
    return UpdateResult(rows, summary)


def launch_planner_update(
    cfg: PlannerConfig,
    gspo: GSPOConfig,
    inputs: dict,
    out_dir: str | Path,
    workdir: str | Path,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> UpdateResult:
    """Run the update with `gspo.num_processes` ranks under `accelerate launch` and return rank 0's result; rank
    r's optimiser steps go to `progress("rank <r> gspo")`.

    `inputs`: `plans_table`, `advantages_table` (local Parquet paths), `adapter` (local folder or None),
    `lora_seed`, `gspo_seed`. GPUs are used unless `planner.device` is `cpu` or none is visible (then CPU ranks
    with gloo).
    """
    spec = job_spec(
        PLANNER_UPDATE,
        sections={"planner": cfg, "rl.planner": gspo},
        inputs=inputs,
        out_dir=str(out_dir),
        device="cuda" if uses_cuda(cfg.device) else "cpu",
    )
    result = launch_accelerate(
        spec, workdir, gspo.num_processes, what="update_planner", timeout_s=timeout_s, progress=progress
    )
    return UpdateResult.from_json(result)


@register_job(PLANNER_UPDATE)
def planner_update(ctx: WorkerContext) -> dict:
    """One rank: read the inputs from local files, train with the launch's collective; the result as JSON."""
    import pyarrow.parquet as pq

    inputs = PlannerUpdateInputs(
        plans=pq.read_table(ctx.input("plans_table")).to_pylist(),
        advantages=pq.read_table(ctx.input("advantages_table")).to_pylist(),
        adapter=ctx.input("adapter"),
        lora_seed=int(ctx.input("lora_seed")),
        gspo_seed=int(ctx.input("gspo_seed")),
    )
    result = run_planner_update(
        ctx.section("planner", PlannerConfig),
        ctx.section("rl.planner", GSPOConfig),
        inputs,
        ctx.spec.out_dir,
        collective=ctx.collective,
        device=ctx.device,
        progress=ctx.reporter("gspo"),
    )
    return result.to_json()
