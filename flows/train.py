"""The train flow (DESIGN §2): setup stages once, then plan → rollout → score → advantage → updates per step.

It resumes from the last committed step: the leading stage runs whose output is committed for the same inputs and
config are found in the store (no task is started for them), and the loop starts at the first missing one. Each
stage runs as its own flow (`inline`: a subflow in this process; `deployments`: a run of its deployment on its work
pool). Stages of one `orchestration.concurrent_groups` group (update_planner and update_executor) run at the same
time when `orchestration.concurrent_updates` says resources allow (flows/groups.py), each in its own process; if
one fails the others still commit, and the flow then fails naming it. When score streams the rollout
(`orchestration.stream_score`, docs/streaming_score.md) a step's rollout and score run at the same time the same
way, score judging each plan's part while the next plan rolls out (its rollout input resolves when it commits). The first SIGINT/SIGTERM stops the loop
after the running stage (or group); the next run resumes there. A run pinned
to imported instructions (`plotline data import --run`, plotline/data/pin.py) uses that artifact in place of the
instructions stage.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Completed

from flows.artifacts import RewardCurve
from flows.dispatch import dispatch_concurrently, dispatch_stage
from flows.groups import STREAMED_GROUP, check_groups, group_decision, merge_streamed, split_groups
from flows.params import StageParams, check_stages, resolve_config
from flows.resolve import input_pins, plan_stage, record, scan_committed
from flows.signals import StopRequest
from flows.stage_task import ensure_gpu_limit
from flows.worker_checks import check_worker_storage, running_from_deployment
from plotline.concurrency import Decision, stream_decision
from plotline.config import PlotlineConfig
from plotline.data.pin import pinned_instructions
from plotline.store import RunStore
from plotline.store.errors import MissingInput

INSTRUCTIONS = ("instructions", 0)


def check_pipeline(config: PlotlineConfig) -> None:
    """Fail early, naming them, if the configured stages are not all registered or a concurrent group lists
    stages that read each other."""
    orch = config.orchestration
    check_stages(config, orch.setup_stages + orch.step_stages + orch.final_stages)
    check_groups(config)


def default_run_uri(config: PlotlineConfig) -> str:
    """`{storage.root}/{run_name}`: where a run without an explicit URI lives (rerunning resumes it)."""
    return f"{config.storage.root.rstrip('/')}/{config.run_name}"


def stage_sequence(config: PlotlineConfig, steps: int, start_step: int = 0) -> list[tuple[str, int]]:
    """(stage, step) in execution order: setup stages at step 0, then every step's stages, then the final stages at
    the last step."""
    orch = config.orchestration
    last = start_step + steps - 1
    return (
        [(name, 0) for name in orch.setup_stages]
        + [(name, s) for s in range(start_step, start_step + steps) for name in orch.step_stages]
        + ([(name, last) for name in orch.final_stages] if steps > 0 else [])
    )


def instruction_source(config: PlotlineConfig, run_uri: str):
    """(pinned instructions artifact or None, the line saying which instruction source the run uses)."""
    found = pinned_instructions(RunStore(run_uri, config.storage))
    if found is None:
        return None, f"instruction source: data.source={config.data.source} (the instructions stage)"
    art, pin = found
    return art, (
        f"instruction source: the import pinned by `plotline data import` ({art.uri}, {pin.get('rows')} "
        f"row(s) from {pin.get('source_path')}); data.source={config.data.source} is not used"
    )


def committed_prefix(
    config: PlotlineConfig, run_uri: str, sequence: list[tuple[str, int]], pinned=None
) -> list[dict[str, Any]]:
    """The leading stage runs of `sequence` already committed (see flows.resolve.scan_committed), with the
    instructions stage taken as the pinned artifact when there is one."""
    if pinned is None:
        return scan_committed(config, run_uri, sequence)
    done: list[dict[str, Any]] = []
    for name, step in sequence:
        if (name, step) == INSTRUCTIONS:
            done.append(record(pinned, "pinned"))
            continue
        try:
            plan = plan_stage(name, config, run_uri, step, input_pins(name, step, done))
        except MissingInput:
            break
        if plan.committed is None:
            break
        done.append(record(plan.committed, "skipped"))
    return done


def _train_run_name() -> str:
    """Flow-run name of a train run: its run id (`train` when it is not known before the config resolves)."""
    from prefect.runtime import flow_run

    uri = flow_run.parameters.get("run_uri")
    return f"train {uri.rstrip('/').rsplit('/', 1)[-1]}" if uri else "train"


@flow(name="train", log_prints=True, persist_result=False, flow_run_name=_train_run_name)
def train_flow(
    config: dict | None = None,
    run_uri: str | None = None,
    steps: int | None = None,
    start_step: int = 0,
    config_files: list[str] | None = None,
    overrides: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) RL steps `start_step .. start_step+steps-1` of a run; returns every stage's manifest reference.

    `config` is a resolved configuration; without it, `config_files` (default: the shapes preset) and `overrides`
    are used (what a scheduled deployment passes). `run_uri` defaults to `{storage.root}/{run_name}`.

    Args:
        config: A fully resolved configuration (what a parent passes); leave empty in the UI and use presets + overrides.
        run_uri: Run folder or s3:// URI; empty: {storage.root}/{run_name} of the resolved config.
        steps: RL steps to run (default: the config's `steps`).
        start_step: First RL step (0 starts or resumes from the beginning).
        config_files: YAML presets merged in order, relative to the worker's working directory (default: configs/shapes.yaml).
        overrides: key=value settings applied on top, e.g. storage.root=/data/runs, run_name=demo, seed=1.
    """
    cfg = resolve_config(config, config_files, overrides)
    check_pipeline(cfg)
    logger = get_run_logger()
    check_worker_storage(cfg, run_uri, running_from_deployment())
    run_uri = run_uri or default_run_uri(cfg)
    total = steps if steps is not None else cfg.steps
    orch = cfg.orchestration
    sequence = stage_sequence(cfg, total, start_step)
    pinned, source_line = instruction_source(cfg, run_uri)
    logger.info(source_line)
    records = committed_prefix(cfg, run_uri, sequence, pinned)
    if records:
        where = (
            f"continuing with {sequence[len(records)][0]} at step {sequence[len(records)][1]}"
            if len(records) < len(sequence)
            else "nothing left to do"
        )
        logger.info(f"resuming {run_uri}: {len(records)} stage run(s) already committed; {where}")
    if orch.gpu_slots and any(orch.is_gpu_stage(name) for name, _ in sequence[len(records) :]):
        ensure_gpu_limit(cfg)
    curve = RewardCurve(cfg, run_uri) if orch.audit else None
    cfg_json = cfg.model_dump(mode="json")
    stopped_by = None
    curve_steps: list[int] = []
    decided: dict[tuple[str, ...], Decision] = {}
    with StopRequest() as stop:
        for group in merge_streamed(cfg, split_groups(cfg, sequence[len(records) :])):
            if stop.requested:
                stopped_by = stop.signal_name
                break
            if pinned is not None and group == [INSTRUCTIONS]:
                records.append(record(pinned, "pinned"))
                continue
            names = tuple(name for name, _ in group)
            if len(group) > 1 and names not in decided:
                decided[names] = stream_decision(cfg) if names == STREAMED_GROUP else group_decision(cfg, list(names))
                logger.info(decided[names].reason)
            items = [
                (name, StageParams(run_uri=run_uri, step=step, config=cfg_json, inputs=input_pins(name, step, records)))
                for name, step in group
            ]
            if len(group) > 1 and decided[names].concurrent:
                records.extend(dispatch_concurrently(items, cfg))
            else:
                for k, (name, params) in enumerate(items):
                    if k and stop.requested:  # one after the other: a stop request is honoured between them
                        break
                    records.append(dispatch_stage(name, params, cfg))
                if stop.requested and len(records) < len(sequence) and sequence[len(records)] in group:
                    stopped_by = stop.signal_name
                    break
            i = len(records) - 1
            step = group[-1][1]
            last_of_step = i + 1 == len(sequence) or sequence[i + 1][1] != step
            if last_of_step and i >= len(orch.setup_stages):
                logger.info(
                    f"step {step} done: "
                    + ", ".join(
                        f"{r['stage']}={r['status']}"
                        for r in records
                        if r["step"] == step and r["stage"] in orch.step_stages
                    )
                )
                curve_steps.append(step)
                if curve:
                    curve.publish([step])
    if curve and not curve_steps and records:
        curve.publish([])
    if stopped_by:
        name, step = sequence[len(records)]
        message = (
            f"stopped by {stopped_by} before {name} at step {step}; {len(records)} stage run(s) committed. "
            f"Run again to resume from there."
        )
        logger.warning(message)
        return Completed(message=message, data=records)
    return records
