"""Orchestration settings: how the flows execute stages (inline or as deployments), retries, timeouts, GPU slots.

None of these keys enter a stage's cache key (no stage lists `orchestration` in its config sections), so changing
how a stage is run never forces it to run again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from plotline._base import Section
from plotline.stage_names import GPU_STAGES, SETUP_STAGES, STEP_STAGES

DEFAULT_GPU_STAGES = list(GPU_STAGES)
DEFAULT_CONCURRENT_GROUPS = [["update_planner", "update_executor"]]


class OrchestrationConfig(Section):
    """How the train/evaluate/synthesize flows execute stages."""

    mode: Literal["inline", "deployments"] = "inline"
    """`inline`: stages run in this process (embedded default); `deployments`: each stage via run_deployment on its
    work pool (register them first with `plotline deploy`)."""
    stage_retries: int = Field(1, ge=0)
    """Retries of a failed stage before the flow fails."""
    retry_delay_s: float = Field(2.0, ge=0)
    """Base delay between stage retries (doubles each retry: exponential backoff)."""
    retry_jitter: float = Field(0.0, ge=0)
    """Random jitter added to each retry delay, as a fraction of it (spreads retries of many workers)."""
    setup_stages: list[str] = Field(default_factory=lambda: list(SETUP_STAGES))
    """Stages run once at step 0 before the loop (run-level artifacts such as the instructions)."""
    step_stages: list[str] = Field(default_factory=lambda: list(STEP_STAGES))
    """Stages run in order at every RL step (DESIGN §2). Each must be a registered stage."""
    final_stages: list[str] = Field(default_factory=list)
    """Stages run once after the loop, at the last step of the run (e.g. `evaluate`: the trained policy against the
    bootstrap one on held-out prompts, so the main job ends with its evaluation report)."""
    evaluate_stage: str = "evaluate"
    """Stage the `evaluate` flow runs (when registered)."""
    synthesize_stage: str = "synthesize"
    """Stage the `synthesize` flow runs (when registered)."""
    stage_modules: list[str] = Field(default_factory=list)
    """Extra Python modules imported before running stages (plugin stages); also read from the
    PLOTLINE_STAGE_MODULES environment variable (comma-separated)."""

    isolation: Literal["inline", "subprocess"] = "inline"
    """`inline`: a stage runs inside the flow's process; `subprocess`: as a `plotline stage` child process (frees GPU
    memory after each stage). A stage with a timeout always runs as a child process."""
    timeout_s: float | None = Field(None, gt=0)
    """Wall-clock limit of every stage run (None = none). Enforced by killing the stage's child process."""
    stage_timeouts: dict[str, float] = Field(default_factory=dict)
    """Per-stage wall-clock limits in seconds, overriding `timeout_s` (e.g. {rollout: 3600})."""
    kill_grace_s: float = Field(10.0, ge=0)
    """After a timeout: seconds between SIGTERM and SIGKILL of the stage's process group."""

    gpu_stages: list[str] = Field(default_factory=lambda: list(DEFAULT_GPU_STAGES))
    """Stages that hold a GPU slot while they run (a Prefect global concurrency limit)."""
    gpu_slots: int = Field(1, ge=0)
    """Slots of the GPU limit (GPU stages running at once, across all flows and workers); 0 disables the limit."""
    gpu_limit_name: str = "plotline-gpu"
    """Name of the Prefect global concurrency limit for GPU stages."""
    gpu_lease_s: float = Field(60.0, gt=0)
    """Lease of a held GPU slot: the holder renews it every third of this; a holder that stops renewing (killed)
    loses its slot to the next waiting run this many seconds after its last renewal."""
    slot_poll_s: float = Field(2.0, gt=0)
    """While the GPU limit is full: seconds between attempts to take a slot (and to release dead holders' slots)."""
    slot_wait_report_s: float = Field(60.0, gt=0)
    """While the GPU limit is full: seconds between the repeated "waiting for a slot ... held by ..." lines."""
    slot_orphan_grace_s: float = Field(30.0, gt=0)
    """While the GPU limit of plotline's embedded API is full: seconds its slots must stay taken with neither a live
    Prefect lease nor a live plotline lease record before the waiter frees them (a Prefect lease that expired with
    no record is released at once). A Prefect server of your own revokes expired leases itself."""

    deployment_name: str = "plotline"
    """Namespace of the stage deployments: stage X runs as deployment `stage-X/<title> (<deployment_name>)`, with
    the stage's title from plotline/stage_names.py (e.g. `stage-plan/sample plans (plotline)`)."""
    poll_interval_s: float = Field(5.0, gt=0)
    """How often a parent flow polls a stage flow run started through its deployment."""
    deployment_timeout_s: float | None = Field(None, gt=0)
    """Longest wait for one stage flow run in `deployments` mode (None = no limit; the stage's own timeout applies)."""

    concurrent_updates: Literal["auto", "on", "off"] = "auto"
    """Whether the stages of a `concurrent_groups` group run at the same time, each in its own process (`inline`
    mode: a `plotline stage` child process with its own torch RNG, threads and device context), or one after
    the other. `off`: one after the other. `on`: at the same time. `auto`: at the same time when resources allow:
    `mode` is `deployments` (each stage runs on a worker of its work pool), or each stage of the group claims
    devices no other one claims (e.g. `planner.device=cuda:1`, `executor.device=cuda:0`; the CPU is one shared
    device, so the CPU default runs them one after the other); and the GPU limit has a slot for each GPU stage of
    the group (`gpu_slots` 0 or at least their number). Outputs are the same either way (flows/groups.py)."""
    concurrent_groups: list[list[str]] = Field(default_factory=lambda: [list(g) for g in DEFAULT_CONCURRENT_GROUPS])
    """Groups of step stages that may run at the same time: consecutive stages of `step_stages` that are all in one
    group form one dispatch group. No stage of a group may read another's output of the same step (checked
    before the flow starts)."""

    stream_score: Literal["auto", "on", "off"] = "auto"
    """Whether score judges each plan's part of the rollout while rollout is still generating the next plan
    (docs/streaming_score.md). `on`: the rollout commits every plan's rows, group tensors and mp4s as a part of its
    attempt as soon as the plan is done (plotline/store/parts.py), and the train flow runs rollout and score at
    the same time, each in its own process, score polling for the parts. `off`: score starts after rollout has
    committed. `auto`: on when the judges are remote (`rewards.judge_backend` is `openai`: their latency
    overlaps the generation), off otherwise (the in-process shapes-world judges take milliseconds, and the
    second process costs more than it saves on a CPU; benchmarks/bench_streaming_score.py). The score table and
    the rollout artifact are the same either way. Never on while `gpu_slots` is 1 and both stages are GPU stages."""
    stream_timeout_s: float = Field(600.0, gt=0)
    """Longest wait of a streaming score for the rollout's next part (reset each time a part appears). Past it the
    score fails naming the missing part; a rollout that aborted or whose lease expired fails it at once."""
    stream_poll_s: float = Field(0.1, gt=0)
    """Seconds between two looks of a streaming score at the store for the rollout's next part."""

    audit: bool = True
    """Publish Prefect artifacts per committed stage (statistics, samples, manifest links, reward curves)."""
    audit_samples: int = Field(5, ge=0)
    """Best/worst and plan samples shown per table artifact."""
    progress_interval_s: float = Field(2.0, ge=0)
    """Minimum seconds between updates of a stage's progress artifact."""

    @field_validator("concurrent_updates", "stream_score", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on`/`off` (a preset, or --set ...=on) as a boolean
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("stage_timeouts")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"stage timeouts must be > 0 seconds, got {bad}")
        return value

    def timeout_for(self, stage: str) -> float | None:
        """The wall-clock limit of `stage` in seconds, or None."""
        return self.stage_timeouts.get(stage, self.timeout_s)

    def uses_subprocess(self, stage: str) -> bool:
        """Whether `stage` runs as a child process (isolation, or a timeout that must be able to kill it)."""
        return self.isolation == "subprocess" or self.timeout_for(stage) is not None

    def is_gpu_stage(self, stage: str) -> bool:
        """Whether `stage` takes a slot of the GPU concurrency limit."""
        return self.gpu_slots > 0 and stage in self.gpu_stages
