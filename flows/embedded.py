"""The embedded Prefect API of `plotline train` (and the other flow commands): a private server process that
dies with its parent and keeps its concurrency leases on disk.

Without PREFECT_API_URL, Prefect would start its own temporary server as a plain child: in the caller's process
group (so a `timeout`'s SIGTERM to the group kills it while the flow still talks to it) and without a
parent-death signal (so a `kill -9` of the caller leaves it running with PPID 1). This one runs in a session of
its own with a parent-death signal (plotline.procs), is stopped when the command ends, and stores leases under
PREFECT_HOME (the filesystem lease storage), so a slot lease outlives the server that granted it and can be
released by the next run (flows/slots.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

from flows.server import ServerError, healthy, spawn_server, stop_group
from plotline.net import free_port

LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


def api_command(port: int) -> list[str]:
    """The API-only server (uvicorn on Prefect's app factory) on 127.0.0.1:`port`, with this interpreter."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def api_env() -> dict[str, str]:
    """Environment of the embedded API: this one and the active Prefect settings, without the UI, background
    services and telemetry, with leases kept on disk."""
    from prefect.settings import get_current_settings

    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)}
    env.pop("PREFECT_API_URL", None)
    env.update(
        {
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE,
        }
    )
    return env


@contextlib.contextmanager
def embedded_api(timeout_s: float = 120.0, log: Callable[[str], None] | None = None) -> Iterator[str | None]:
    """Serve a private Prefect API for the duration of the block when no PREFECT_API_URL is configured; yields
    its API URL (None when an API is configured, which is then used as it is)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield None
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, tail = spawn_server(api_command(port), api_env(), log, "prefect-api-output")
    try:
        deadline = time.monotonic() + timeout_s
        while not healthy(url, timeout_s=1.0):
            if proc.poll() is not None:
                raise ServerError(f"the embedded Prefect API exited with {proc.returncode}:\n" + "\n".join(tail))
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the embedded Prefect API did not answer {url}/api/health within {timeout_s:g} s:\n"
                    + "\n".join(tail)
                )
            time.sleep(0.3)
        with _api_url(f"{url}/api"):
            yield f"{url}/api"
    finally:
        stop_group(proc, grace_s=10.0)


@contextlib.contextmanager
def _api_url(api: str) -> Iterator[None]:
    """Point every thread of this process (the process-global Prefect settings) and every child process (the
    environment) at `api` for the block; before leaving, send the logs and events still queued for it."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from flows.slots import LEASE_DIR_ENV

    previous = os.environ.get("PREFECT_API_URL")
    previous_leases = os.environ.get(LEASE_DIR_ENV)
    os.environ["PREFECT_API_URL"] = api
    # the API's filesystem lease storage (its PREFECT_HOME is ours): GPU-slot waiters free what no live lease explains
    os.environ[LEASE_DIR_ENV] = str(get_current_settings().home / "concurrency_leases")
    refresh_global_settings_context()
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            try:
                yield
            finally:
                _drain_workers()
    finally:
        for name, value in (("PREFECT_API_URL", previous), (LEASE_DIR_ENV, previous_leases)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        refresh_global_settings_context()


def _drain_workers(timeout_s: float = 5.0) -> None:
    """Send the log records and events Prefect's background workers still hold (bounded)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout_s)
