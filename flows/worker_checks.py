"""Checks a flow makes when a worker (a deployment run) executes it, before any stage writes."""

from __future__ import annotations

import posixpath

from plotline.config import PlotlineConfig


class RelativeStoreRoot(ValueError):
    """A deployment run was given a relative store root: it would write into the worker's temporary folder."""


def is_relative_local(uri: str) -> bool:
    """Whether `uri` is a local path that is not absolute (no scheme, no leading '/')."""
    return "://" not in uri and not posixpath.isabs(uri)


def check_worker_storage(config: PlotlineConfig, run_uri: str | None, from_deployment: bool) -> None:
    """Refuse a relative local run folder in a deployment run: a worker runs flows in a temporary working
    directory that is deleted afterwards, so every artifact would be lost. The run folder is `run_uri`, or
    `{storage.root}/{run_name}` when none is given (then storage.root is named)."""
    if not from_deployment:
        return
    what, value = ("run_uri", run_uri) if run_uri else ("storage.root", config.storage.root)
    if value and is_relative_local(value):
        raise RelativeStoreRoot(
            f"{what}={value!r} is a relative path, but this flow runs on a worker whose working directory is "
            f"temporary: results would be written there and deleted. Use an absolute path (e.g. "
            f"storage.root=/data/plotline/runs) or an s3:// root."
        )


def running_from_deployment() -> bool:
    """Whether the current flow run was started from a deployment (i.e. a worker executes it).

    Read from the running flow's context (its flow run carries the deployment id); only outside a flow run does
    this ask the API (prefect.runtime reads the flow run back from the server on every call)."""
    from prefect.context import FlowRunContext
    from prefect.runtime import deployment

    inherited = getattr(deployment, "_deployment_id", None)  # set for the subflows of a deployment run
    if inherited is not None and inherited.get():
        return True
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        return ctx.flow_run.deployment_id is not None
    return bool(deployment.id)
