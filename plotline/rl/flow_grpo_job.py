"""The executor's Flow-GRPO update as one store-free job, shared by the update_executor stage (one process) and
its data-parallel workers (the `executor_update` job of `plotline.parallel.worker`, under `accelerate launch`).

Schedule: the trainable plans (sorted by plan id, those with at least one kept advantage), repeated for
`inner_epochs`, are cut into windows of `grad_accum_steps` groups; one optimizer step closes every window (the
last one may be short). With N ranks each window's groups are dealt round-robin; each rank back-propagates its
own groups (loss / grad_accum_steps) and the gradients are summed across ranks before clipping, so N ranks take
the same steps as one process, up to the order of floating-point summation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import Executor, build_executor
from plotline.executor.lora import attach_lora, load_adapter, save_adapter
from plotline.parallel.collective import Collective
from plotline.parallel.jobs import WorkerContext, job_spec, register_job
from plotline.parallel.launch import launch_accelerate, uses_cuda
from plotline.parallel.progress import ProgressFactory
from plotline.progress import Progress, no_progress
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer
from plotline.rl.flow_grpo_update import build_group, check_versions, executor_advantages
from plotline.rl.update_result import UpdateResult
from plotline.video import VideoConfig

EXECUTOR_UPDATE = "executor_update"
"""Job kind of one data-parallel rank of the executor update."""


@dataclass
class ExecutorUpdateInputs:
    """Everything the update reads, without the store."""

    rollouts: list[dict]
    """Rows of rollouts.parquet."""
    advantages: list[dict]
    """Rows of advantages.parquet (only kept executor rows are used)."""
    read_group: Callable[[str], dict[str, torch.Tensor]]
    """group_path (as in the rollout rows) → that plan's group tensors."""
    adapter_dir: str | None
    """Local folder of the adapter the rollouts were made with (None: a fresh LoRA, version `base`)."""
    lora_seed: int
    """Seed of a fresh LoRA's initialisation."""
    version: str
    """Version recorded in the new adapter."""


def load_policy(ex: Executor, rl: FlowGRPOConfig, adapter_dir: str | None, lora_seed: int):
    """(peft model, starting version): the given adapter made trainable, or a fresh seeded LoRA (`base`)."""
    if adapter_dir is not None:
        peft = load_adapter(ex.model, adapter_dir, ex.backbone, trainable=True)
        return peft, str(peft.plotline_meta["version"])
    with torch.random.fork_rng(devices=[ex.device] if ex.device.type == "cuda" else []):
        torch.manual_seed(lora_seed)
        return attach_lora(ex.model, rl.lora_rank, rl.lora_alpha, rl.lora_targets), "base"


def update_windows(plan_ids: Sequence[str], epochs: int, window: int) -> list[list[tuple[int, str]]]:
    """(iteration, plan id) items of every optimizer step: `plan_ids` repeated `epochs` times, cut into windows
    of `window` groups (a window may span an epoch boundary, as gradient accumulation carries over)."""
    flat = list(enumerate(pid for _ in range(epochs) for pid in plan_ids))
    return [flat[i : i + window] for i in range(0, len(flat), window)]


def trainable_plans(rollouts: Sequence[dict], advantages: dict[str, float]) -> tuple[dict[str, list[dict]], list[str]]:
    """(plan id → its rollout rows, sorted ids of the plans with at least one kept advantage)."""
    by_plan: dict[str, list[dict]] = defaultdict(list)
    for r in rollouts:
        by_plan[r["plan_id"]].append(r)
    keep = [pid for pid in sorted(by_plan) if any(r["rollout_id"] in advantages for r in by_plan[pid])]
    return by_plan, keep


def run_executor_update(
    executor: ExecutorConfig,
    video: VideoConfig,
    rl: FlowGRPOConfig,
    inputs: ExecutorUpdateInputs,
    out_dir: str | Path,
    *,
    collective: Collective | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> UpdateResult:
    """Train the executor LoRA on the rollouts and advantages (config sections `executor`, `video`,
    `rl.executor`); rank 0 writes `out_dir/adapter` (and `out_dir/adapter_ema` when `use_ema`). Every rank
    returns the same metrics and summary. `progress(step, steps, loss)` after every optimizer step (the loss is
    the mean over this rank's groups of that step)."""
    coll = collective or Collective()
    ex = build_executor(executor, video, device=device)
    peft, start_version = load_policy(ex, rl, inputs.adapter_dir, inputs.lora_seed)
    check_versions(inputs.rollouts, start_version)
    adv = executor_advantages(inputs.advantages)
    by_plan, plan_ids = trainable_plans(inputs.rollouts, adv)
    trainer = FlowGRPOTrainer(peft, ex.generator, rl, grad_sync=coll.sum_grads if coll.world_size > 1 else None)
    windows = update_windows(plan_ids, rl.inner_epochs, rl.grad_accum_steps)
    mine: list[tuple[int, dict]] = []
    norms: dict[int, float] = {}
    report = progress or no_progress
    report(0, len(windows))
    for done, window in enumerate(windows, start=1):
        ids: list[str] = []
        first = len(mine)
        for it, pid in coll.share(window):
            rows = by_plan[pid]
            group = build_group(
                rows, inputs.read_group(rows[0]["group_path"]), adv, ex.encode(list(rows[0]["span_prompts"]))
            )
            if group is None:
                raise ValueError(f"plan {pid}: none of its rollouts has an advantage")
            ids += group.sample_ids
            mine.append((it, trainer.backward(group.to(ex.device))))
        norms[window[-1][0]] = trainer.step(ids)
        losses = [m["loss"] for _, m in mine[first:]]
        report(done, len(windows), sum(losses) / len(losses) if losses else None)
    metrics = []
    for it, m in sorted(coll.gather(mine), key=lambda x: x[0]):
        if it in norms:
            m = {**m, "grad_norm": norms[it]}
        metrics += [{"role": "executor", "iteration": it, "metric": k, "value": float(v)} for k, v in m.items()]
    groups = sum(len(w) for w in windows)
    metrics.append(
        {
            "role": "executor",
            "iteration": groups,
            "metric": "optimizer_steps",
            "value": float(trainer.state.optimizer_steps),
        }
    )
    if coll.is_main:
        out = Path(out_dir)
        save_adapter(peft, out / "adapter", ex.backbone, inputs.version)
        if rl.use_ema:
            with trainer.ema_weights():
                save_adapter(peft, out / "adapter_ema", ex.backbone, inputs.version + "+ema")
    summary = {
        "groups": groups,
        "optimizer_steps": trainer.state.optimizer_steps,
        "adapter_version": inputs.version,
        "started_from": start_version,
        "num_processes": coll.world_size,
    }
    for key in ("loss", "kl", "ratio_mean", "clip_fraction", "grad_norm"):
        vals = [m["value"] for m in metrics if m["metric"] == key]
        if vals:
            summary[f"{key}_mean"] = sum(vals) / len(vals)
    coll.barrier()
    return UpdateResult(metrics, summary)


def launch_executor_update(
    executor: ExecutorConfig,
    video: VideoConfig,
    rl: FlowGRPOConfig,
    inputs: dict,
    out_dir: str | Path,
    workdir: str | Path,
    timeout_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> UpdateResult:
    """Run the update with `rl.num_processes` ranks under `accelerate launch` and return rank 0's result; rank r's
    optimizer steps go to `progress("rank <r> flow-grpo")`.

    `inputs`: `rollouts_table`, `advantages_table` (local Parquet paths), `group_files` (group_path → local
    safetensors path), `adapter_dir` (or None), `lora_seed`, `version`. GPUs are used unless `executor.device`
    is `cpu` or none is visible (then CPU ranks with gloo).
    """
    spec = job_spec(
        EXECUTOR_UPDATE,
        sections={"executor": executor, "video": video, "rl.executor": rl},
        inputs=inputs,
        out_dir=str(out_dir),
        device="cuda" if uses_cuda(executor.device) else "cpu",
    )
    result = launch_accelerate(
        spec, workdir, rl.num_processes, what="update_executor", timeout_s=timeout_s, progress=progress
    )
    return UpdateResult.from_json(result)


@register_job(EXECUTOR_UPDATE)
def executor_update(ctx: WorkerContext) -> dict:
    """One rank: read the inputs from local files, train with the launch's collective; the result as JSON."""
    import pyarrow.parquet as pq
    from safetensors.torch import load_file

    files = ctx.input("group_files")
    inputs = ExecutorUpdateInputs(
        rollouts=pq.read_table(ctx.input("rollouts_table")).to_pylist(),
        advantages=pq.read_table(ctx.input("advantages_table")).to_pylist(),
        read_group=lambda name: load_file(files[name]),
        adapter_dir=ctx.input("adapter_dir"),
        lora_seed=int(ctx.input("lora_seed")),
        version=ctx.input("version"),
    )
    result = run_executor_update(
        ctx.section("executor", ExecutorConfig),
        ctx.section("video", VideoConfig),
        ctx.section("rl.executor", FlowGRPOConfig),
        inputs,
        ctx.spec.out_dir,
        collective=ctx.collective,
        device=ctx.device,
        progress=ctx.reporter("flow-grpo"),
    )
    return result.to_json()
