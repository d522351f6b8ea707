"""When stages of one step may run at the same time: the devices each stage claims, and the `concurrent_updates`
rule of `orchestration` (plotline/orchestration_config.py).

A stage claims a set of device names: `cpu` (the host's cores, one shared device) or `cuda:<i>`. Two stages whose
claims are disjoint do not compete for a device, so running them at the same time costs neither of them memory
or speed. The claims registry lists the stages whose devices are known from their config sections; any other
stage claims nothing known, and `auto` then runs it one after the other with the rest of its group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plotline.config import PlotlineConfig
from plotline.orchestration_config import OrchestrationConfig

CPU = "cpu"


def device_claim(device: str, num_processes: int, gpu_count: int) -> frozenset[str]:
    """The devices one role uses: `cpu` without a GPU (`device` cpu, or `auto` with no GPU visible); `cuda:0` ..
    `cuda:<N-1>` for N > 1 `accelerate` ranks (one per GPU); else the one named GPU (`cuda` is `cuda:0`)."""
    if device == CPU or gpu_count == 0 or not (device == "auto" or device.startswith("cuda")):
        return frozenset({CPU})
    if num_processes > 1:
        return frozenset(f"cuda:{i}" for i in range(min(num_processes, gpu_count)))
    if device in ("auto", "cuda"):
        return frozenset({"cuda:0"})
    return frozenset({device})


ClaimFn = Callable[[PlotlineConfig, int], frozenset[str]]

DEVICE_CLAIMS: dict[str, ClaimFn] = {
    "update_planner": lambda c, gpus: device_claim(c.planner.device, c.rl.planner.num_processes, gpus),
    "update_executor": lambda c, gpus: device_claim(c.executor.device, c.rl.executor.num_processes, gpus),
}
"""Stage → the devices it claims, from the sections it reads (planner/rl.planner, executor/rl.executor)."""


def stage_claims(config: PlotlineConfig, stage: str, gpu_count: int) -> frozenset[str] | None:
    """The devices `stage` claims under `config` with `gpu_count` GPUs visible, or None when not known."""
    fn = DEVICE_CLAIMS.get(stage)
    return fn(config, gpu_count) if fn else None


def visible_gpus() -> int:
    """How many CUDA devices this process sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class Decision:
    """Whether a group runs concurrently, and the sentence saying why (logged by the train flow)."""

    concurrent: bool
    reason: str


def concurrency_decision(
    orch: OrchestrationConfig, stages: Sequence[str], claims: Sequence[frozenset[str] | None]
) -> Decision:
    """Apply `orchestration.concurrent_updates` to one group of stages with their device `claims` (None: unknown).

    `off`: sequential. `on`: concurrent. `auto`: concurrent when the GPU limit has a slot for each of the group's GPU
    stages and either `mode` is `deployments` or every claim is known and no device is claimed twice.
    """
    names = ", ".join(stages)
    if len(stages) < 2 or orch.concurrent_updates == "off":
        return Decision(False, f"{names}: one after the other (concurrent_updates={orch.concurrent_updates})")
    gpu_stages = [s for s in stages if orch.is_gpu_stage(s)]
    if orch.concurrent_updates == "on":
        short = gpu_stages and 0 < orch.gpu_slots < len(gpu_stages)
        note = f"; the GPU limit's {orch.gpu_slots} slot(s) make its GPU stages take turns" if short else ""
        return Decision(True, f"{names}: at the same time (concurrent_updates=on{note})")
    if gpu_stages and 0 < orch.gpu_slots < len(gpu_stages):
        return Decision(
            False,
            f"{names}: one after the other (concurrent_updates=auto: the GPU limit has {orch.gpu_slots} slot(s) "
            f"for {len(gpu_stages)} GPU stages)",
        )
    if orch.mode == "deployments":
        return Decision(True, f"{names}: at the same time (concurrent_updates=auto, mode=deployments)")
    unknown = [s for s, c in zip(stages, claims, strict=True) if c is None]
    if unknown:
        return Decision(
            False, f"{names}: one after the other (concurrent_updates=auto: no known devices for {', '.join(unknown)})"
        )
    seen: dict[str, str] = {}
    for stage, claim in zip(stages, claims, strict=True):
        for dev in sorted(claim or ()):
            if dev in seen:
                return Decision(
                    False,
                    f"{names}: one after the other (concurrent_updates=auto: {seen[dev]} and {stage} both use {dev})",
                )
            seen[dev] = stage
    return Decision(True, f"{names}: at the same time (concurrent_updates=auto: disjoint devices)")


REMOTE_JUDGE_BACKENDS = frozenset({"openai"})
"""Judge backends whose requests wait on another machine: their latency overlaps the rollout's generation."""


def stream_decision(config: PlotlineConfig) -> Decision:
    """Whether score streams the rollout (`orchestration.stream_score`, docs/streaming_score.md): `on`, `off`, or
    under `auto` on when the judges are remote (`rewards.judge_backend` in REMOTE_JUDGE_BACKENDS), where the
    requests of plan i wait on the judge server while plan i+1 is generated; off for in-process judges, whose
    milliseconds do not pay for the second process. Never while the GPU limit has fewer than two slots and both
    stages take one (a score holding the only slot would wait for a rollout that cannot start)."""
    orch = config.orchestration
    mode, backend = orch.stream_score, config.rewards.judge_backend
    gpu_stages = [s for s in ("rollout", "score") if orch.is_gpu_stage(s)]
    if mode != "off" and len(gpu_stages) == 2 and orch.gpu_slots < 2:
        # one GPU slot for two GPU stages: a score holding it would wait for a rollout that cannot start
        return Decision(
            False,
            f"rollout, score: score starts after rollout (stream_score={mode}: the GPU limit's {orch.gpu_slots} "
            f"slot(s) cannot hold both GPU stages; set gpu_slots=0 or >= 2, or take score off gpu_stages)",
        )
    if mode == "auto":
        on = backend in REMOTE_JUDGE_BACKENDS
        why = f"judge backend {backend} is {'remote' if on else 'in-process'}"
    else:
        on, why = mode == "on", "as configured"
    state = "score judges each plan while rollout generates the next" if on else "score starts after rollout"
    return Decision(on, f"rollout, score: {state} (stream_score={mode}: {why})")
