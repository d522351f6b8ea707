"""Start one stage run from a parent flow: as a subflow (`inline`) or through its deployment (`deployments`).

In `deployments` mode the parent first asks the store whether the output is committed (then nothing starts),
then starts `stage-<name>/<title> (<deployment_name>)` with an idempotency key built from run, step, stage and input
digest: a retried or restarted parent gets the flow run it started before (still running, or completed) instead of
a duplicate. A flow run that already ended in failure under a key is not reused: the next attempt key is.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prefect import get_run_logger

from flows.params import StageParams
from flows.resolve import StagePlan, find_committed, idempotency_key, plan_stage, record
from flows.stage_flows import flow_name, stage_flow, stage_flow_tags, stage_run_name, stage_run_tags
from plotline.config import PlotlineConfig
from plotline.store import RunStore
from plotline.store.errors import MissingInput

MAX_ATTEMPT_KEYS = 100
T = TypeVar("T")


class StageRunFailed(RuntimeError):
    """A stage flow run started through a deployment did not complete."""


def dispatch_stage(name: str, params: StageParams, config: PlotlineConfig) -> dict[str, Any]:
    """Run stage `name` as configured (`orchestration.mode`) and return the reference to its committed manifest."""
    if config.orchestration.mode == "deployments":
        return run_via_deployment(name, params, config)
    from prefect import tags

    with (
        without_heartbeats(),
        tags(*stage_flow_tags(params.run_uri, name, params.step, config.orchestration.is_gpu_stage(name))),
    ):
        return in_helper_thread(stage_flow(name), params)


_NO_HEARTBEATS: list[Any] = [None, None]
"""The last settings seen by without_heartbeats and their copy without flow heartbeats."""


@contextlib.contextmanager
def without_heartbeats() -> Iterator[None]:
    """The current Prefect settings without flow-run heartbeats, for the block.

    An in-process subflow needs no heartbeats of its own (the parent's cover the process), and stopping each
    subflow's heartbeat thread costs up to a second. The copy is made once per settings object: building a
    Settings copy (what temporary_settings does) takes 20-70 ms, entering one is free.
    """
    import prefect.context
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    ctx = prefect.context.get_settings_context()
    if _NO_HEARTBEATS[0] is not ctx.settings:
        quiet = ctx.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        _NO_HEARTBEATS[:] = [ctx.settings, quiet]
    with prefect.context.SettingsContext(profile=ctx.profile, settings=_NO_HEARTBEATS[1]):
        yield


def in_helper_thread(fn: Callable[..., T], *args: Any) -> T:
    """Call `fn(*args)` in a helper thread (same Prefect context) while the main thread waits.

    The main thread keeps the flow's SIGINT/SIGTERM handlers (flows/signals.py): a stop request then lets the
    running stage finish. In the main thread itself, Prefect's subflow engine would install its own SIGTERM
    bridge and crash the stage instead.
    """
    ctx = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = ctx.run(fn, *args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="plotline-stage", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def deployment_path(name: str, config: PlotlineConfig) -> str:
    """`flow/deployment` name of a stage's deployment (flows/deployment_names.py), as `plotline deploy` registers it."""
    from flows.deployment_names import stage_deployment_name

    return f"{flow_name(name)}/{stage_deployment_name(name, config.orchestration.deployment_name)}"


def _existing_run(client, deployment_id, key: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterIdempotencyKey

    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            idempotency_key=FlowRunFilterIdempotencyKey(any_=[key]),
        ),
        limit=1,
    )
    return runs[0] if runs else None


def launch_key(name: str, params: StageParams, config: PlotlineConfig, plan: StagePlan) -> str:
    """The first idempotency key of this stage run that no failed flow run of its deployment holds."""
    from prefect.client.orchestration import get_client

    force_version = (plan.versions[-1] + 1 if plan.versions else 0) if params.force else None
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_path(name, config))
        for attempt in range(MAX_ATTEMPT_KEYS):
            key = idempotency_key(params.run_uri, params.step, name, plan.digest, attempt, force_version)
            existing = _existing_run(client, deployment.id, key)
            if existing is None or not existing.state or not existing.state.is_final() or existing.state.is_completed():
                return key
    raise StageRunFailed(
        f"stage {name} step {params.step}: {MAX_ATTEMPT_KEYS} failed flow runs for the same inputs; "
        f"look at them in the UI before trying again"
    )


def run_via_deployment(name: str, params: StageParams, config: PlotlineConfig) -> dict[str, Any]:
    """Start (or re-attach to) the stage's deployment run, wait for it, and return what it committed."""
    from prefect.deployments import run_deployment

    logger = get_run_logger()
    orch = config.orchestration
    plan = plan_stage(name, config, params.run_uri, params.step, params.inputs)
    if plan.committed is not None and not params.force:
        logger.info(f"{name} step {params.step}: already committed as v{plan.committed.manifest.version}; not started")
        return record(plan.committed, "skipped")
    newest = plan.versions[-1] if plan.versions else -1
    key = launch_key(name, params, config, plan)
    target = deployment_path(name, config)
    logger.info(f"{name} step {params.step}: starting deployment {target} (idempotency key {key})")
    fr = run_deployment(
        target,
        parameters={"params": params.model_dump(mode="json")},
        idempotency_key=key,
        timeout=orch.deployment_timeout_s,
        poll_interval=orch.poll_interval_s,
        flow_run_name=stage_run_name(params.run_uri, name, params.step),
        tags=stage_run_tags(params.run_uri, name, params.step),
    )
    state = fr.state
    if state is None or not state.is_final():
        raise StageRunFailed(
            f"stage {name} step {params.step}: flow run {fr.name} ({fr.id}) is still "
            f"{state.name if state else 'unknown'} after {orch.deployment_timeout_s} s"
        )
    if not state.is_completed():
        raise StageRunFailed(
            f"stage {name} step {params.step}: flow run {fr.name} ({fr.id}) ended {state.name}: "
            f"{state.message or 'no message'}"
        )
    store = RunStore(params.run_uri, config.storage)
    art = find_committed(store, name, params.step, plan.digest, plan.area, newer_than=newest if params.force else None)
    if art is None:
        raise StageRunFailed(
            f"stage {name} step {params.step}: flow run {fr.name} completed but no committed output "
            f"has input digest {plan.digest[:12]}…"
        )
    return record(art, "committed")


class StageGroupFailed(RuntimeError):
    """One or more stages of a concurrently dispatched group failed (the others finished and committed)."""


def concurrent_params(params: StageParams, config: PlotlineConfig) -> StageParams:
    """The parameters of a stage dispatched alongside others: in `inline` mode its config runs it as a `plotline
    stage` child process (own torch RNG, threads and device context: the same computation as alone); orchestration
    keys enter no cache key, so its digest and output are those of the sequential run."""
    if config.orchestration.mode == "deployments":
        return params
    cfg = dict(params.config)
    cfg["orchestration"] = {**cfg.get("orchestration", {}), "isolation": "subprocess"}
    return params.model_copy(update={"config": cfg})


def _committed_record(name: str, params: StageParams, config: PlotlineConfig) -> dict[str, Any] | None:
    """The record of an output already committed for these inputs (nothing needs to start), else None."""
    if params.force:
        return None
    try:
        plan = plan_stage(name, config, params.run_uri, params.step, params.inputs)
    except MissingInput:  # a streamed input (score's rollouts) commits while the group runs
        return None
    return record(plan.committed, "skipped") if plan.committed is not None else None


def dispatch_concurrently(items: list[tuple[str, StageParams]], config: PlotlineConfig) -> list[dict[str, Any]]:
    """Run the stages of one group at the same time, each through `dispatch_stage` in its own thread (same Prefect
    context), and return their records in `items` order.

    A stage already committed for its inputs is recorded as skipped without starting. The main thread only waits
    (it keeps the flow's stop handlers: a stop request lets every stage of the group finish). When a stage fails
    the others still finish and commit; then StageGroupFailed names the failed ones (the first error chained).
    """
    logger = get_run_logger()
    results: list[dict[str, Any] | None] = [_committed_record(name, p, config) for name, p in items]
    for (name, p), rec in zip(items, results, strict=True):
        if rec is not None:
            logger.info(f"{name} step {p.step}: already committed as v{rec['version']}; not started")
    todo = [i for i, rec in enumerate(results) if rec is None]
    outcomes: dict[int, dict[str, Any]] = {i: {} for i in todo}

    def target(i: int, ctx: contextvars.Context) -> None:
        name, p = items[i]
        try:
            outcomes[i]["value"] = ctx.run(dispatch_stage, name, concurrent_params(p, config), config)
        except BaseException as exc:  # noqa: BLE001 - reported by the waiting thread
            outcomes[i]["error"] = exc

    threads = [
        threading.Thread(
            target=target, args=(i, contextvars.copy_context()), name=f"plotline-{items[i][0]}", daemon=True
        )
        for i in todo
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    failed = [i for i in todo if "error" in outcomes[i]]
    for i in todo:
        if i not in failed:
            results[i] = outcomes[i]["value"]
    if failed:
        kept = [f"{items[i][0]} v{rec['version']} ({rec['status']})" for i, rec in enumerate(results) if rec]
        raise StageGroupFailed(
            "; ".join(
                f"stage {items[i][0]} step {items[i][1].step} failed: "
                f"{type(outcomes[i]['error']).__name__}: {outcomes[i]['error']}"
                for i in failed
            )
            + (f"; kept the committed {', '.join(kept)} (a rerun does not redo them)" if kept else "")
        ) from outcomes[failed[0]]["error"]
    return [rec for rec in results if rec is not None]
