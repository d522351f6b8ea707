"""One stage run as a Prefect task: retries with backoff, a GPU slot, a timeout that kills, a progress artifact.

Only manifest references cross Prefect; the store decides skipping (no Prefect result caching, nothing persisted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.artifacts import ProgressReporter, stage_keys
from flows.isolation import run_stage_process
from flows.resolve import plan_stage, record
from plotline.config import PlotlineConfig
from plotline.store import MissingInput, RunStore


def outcome_record(outcome) -> dict[str, Any]:
    """The small, JSON-able description of a StageOutcome that flows pass around (never tensors)."""
    return record(outcome.artifact, outcome.status)


@contextlib.contextmanager
def gpu_slot(config: PlotlineConfig, stage: str, log=print, info=None) -> Iterator[None]:
    """Hold one slot of the global GPU concurrency limit, under a renewed lease, while a GPU stage runs (no-op for
    CPU stages); a wait for the slot is reported to `log` with its holders (flows/slots.py), a slot taken without
    waiting only to `info` (the stage task's INFO, which the CLI's console leaves out)."""
    orch = config.orchestration
    if not orch.is_gpu_stage(stage):
        yield
        return
    from flows.slots import leased_slot

    with leased_slot(
        orch.gpu_limit_name,
        stage,
        lease_s=orch.gpu_lease_s,
        poll_s=orch.slot_poll_s,
        report_s=orch.slot_wait_report_s,
        orphan_grace_s=orch.slot_orphan_grace_s,
        log=log,
        info=info,
    ):
        yield


def ensure_gpu_limit(config: PlotlineConfig) -> str | None:
    """Create the GPU global concurrency limit with `gpu_slots` slots if it does not exist (an existing one, e.g.
    edited in the UI, is left as it is). Returns its name, or None when disabled."""
    orch = config.orchestration
    if orch.gpu_slots <= 0:
        return None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(orch.gpu_limit_name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=orch.gpu_limit_name, limit=orch.gpu_slots, active=True)
                )
    return orch.gpu_limit_name


def retry_options(config: PlotlineConfig) -> dict[str, Any]:
    """Task options for stage retries: `stage_retries` attempts with exponential backoff (and optional jitter)."""
    orch = config.orchestration
    delays = [orch.retry_delay_s * 2**i for i in range(orch.stage_retries)]
    opts: dict[str, Any] = {"retries": orch.stage_retries, "retry_delay_seconds": delays or 0}
    if orch.retry_jitter > 0:
        opts["retry_jitter_factor"] = orch.retry_jitter
    return opts


@task(name="run-stage", cache_policy=NO_CACHE, persist_result=False, task_run_name="{name}@{step}")
def execute_stage(
    name: str, config: dict, run_uri: str, step: int, inputs: dict[str, str] | None = None, force: bool = False
) -> dict[str, Any]:
    """Run stage `name` at `step` (in-process, or as a killable child process when isolated or time-limited) and
    return the reference to its committed manifest.

    An output already committed for the same inputs and config is returned as `skipped` straight from the store,
    as `run_stage` would return it, without taking a GPU slot (five API calls), starting a child process or writing a
    progress artifact (one call)."""
    cfg = PlotlineConfig.model_validate(config)
    orch = cfg.orchestration
    logger = get_run_logger()
    committed = None if force else committed_record(name, cfg, run_uri, step, inputs)
    if committed is not None:  # the store would skip it: no GPU slot, no child process, no progress to show
        rec = committed
    else:
        progress = None
        if orch.audit:
            progress = ProgressReporter(
                stage_keys(RunStore(run_uri, cfg.storage).run_id, name)["progress"],
                f"{name} step {step}",
                orch.progress_interval_s,
            )
            progress.start()
        rec = _run(name, cfg, run_uri, step, inputs, force, progress, logger)
        if progress:
            progress.finish()
    logger.info(f"{name} step {step}: {rec['status']} v{rec['version']} (manifest {rec['manifest_id']}) {rec['uri']}")
    return rec


def committed_record(
    name: str, config: PlotlineConfig, run_uri: str, step: int, inputs: dict[str, str] | None
) -> dict[str, Any] | None:
    """The `skipped` record of the output already committed for this stage run's inputs and config (the one
    `run_stage` would return without running), or None: then the stage must run (a missing input is reported by
    that run)."""
    try:
        plan = plan_stage(name, config, run_uri, step, inputs or None)
    except MissingInput:
        return None
    return record(plan.committed, "skipped") if plan.committed is not None else None


def _run(name, cfg: PlotlineConfig, run_uri, step, inputs, force, progress, logger) -> dict[str, Any]:
    """Run the stage under its GPU slot, in this process or as a killable child process."""
    from stages.base import run_stage

    orch = cfg.orchestration
    with gpu_slot(cfg, name, log=logger.warning, info=logger.info):
        if orch.uses_subprocess(name):
            rec = run_stage_process(
                name,
                cfg,
                run_uri,
                step,
                inputs=inputs,
                force=force,
                timeout_s=orch.timeout_for(name),
                grace_s=orch.kill_grace_s,
                log=logger.info,
                on_progress=progress.hook if progress else None,
                on_start=lambda pid: logger.info(f"{name}@{step}: child process {pid}"),
            )
        else:
            outcome = run_stage(
                name,
                cfg,
                run_uri,
                step,
                force=force,
                pinned_inputs=inputs or None,
                progress_hook=progress.hook if progress else None,
            )
            rec = outcome_record(outcome)
    return rec


@task(name="audit", cache_policy=NO_CACHE, persist_result=False, task_run_name="audit {rec[stage]}@{rec[step]}")
def publish_audit(rec: dict[str, Any], config: dict, run_uri: str) -> list[str]:
    """Publish the audit artifacts of a committed stage output (never fails the stage)."""
    from flows.artifacts import publish_stage_audit

    return publish_stage_audit(rec, PlotlineConfig.model_validate(config), run_uri)
