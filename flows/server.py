"""`plotline ui`: a local Prefect server (API + UI) on a loopback address, started as a child process.

The server gets its own process group; Ctrl-C / SIGTERM of `plotline ui` stops the whole group. The API answers
at `<url>/api` (point PREFECT_API_URL there so `plotline train`, `plotline deploy` and workers use it).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import httpx

from plotline.procs import die_with_parent

LOOPBACK_NAMES = {"localhost"}


class ServerError(RuntimeError):
    """The Prefect server could not be started or did not become healthy in time."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url(host: str, port: int) -> str:
    """Base URL of a server on host:port (IPv6 literals bracketed)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def healthy(url: str, timeout_s: float = 2.0) -> bool:
    """Whether a Prefect API answers `true` at `<url>/api/health`."""
    try:
        resp = httpx.get(f"{url}/api/health", timeout=timeout_s)
        return resp.status_code == 200 and resp.json() is True
    except (httpx.HTTPError, ValueError):
        return False


def port_free(host: str, port: int) -> bool:
    """Whether host:port can be bound right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def server_command(host: str, port: int) -> list[str]:
    """`prefect server start` on host:port with this interpreter."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port), "--analytics-off"]


def server_env(home: Path | None = None, api_url: str | None = None) -> dict[str, str]:
    """Environment of the server process: no telemetry; a separate PREFECT_HOME (database) when given; the UI's
    API URL (what /ui-settings tells the browser) set to this server's own `api_url`, not Prefect's default port."""
    env = dict(os.environ)
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("PREFECT_API_URL", None)  # the server must not talk to another API
    for name in ("PREFECT_UI_API_URL", "PREFECT_SERVER_UI_API_URL"):
        env.pop(name, None)
    if api_url is not None:
        env["PREFECT_SERVER_UI_API_URL"] = api_url
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        env["PREFECT_HOME"] = str(home)
    return env


def stop_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it does not exit within `grace_s`."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def spawn_server(
    command: list[str], env: dict[str, str], log: Callable[[str], None] | None, thread_name: str
) -> tuple[subprocess.Popen, deque[str]]:
    """Start a server child in its own session that dies with this process (parent-death signal), with its
    output pumped by a daemon thread into a bounded tail of the last 30 lines (and to `log`, when given)."""
    tail: deque[str] = deque(maxlen=30)
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            if log:
                log(line.rstrip())

    threading.Thread(target=pump, name=thread_name, daemon=True).start()
    return proc, tail


def start_server(
    host: str = "127.0.0.1",
    port: int = 4200,
    home: Path | None = None,
    timeout_s: float = 120.0,
    log: Callable[[str], None] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start the server and wait (bounded) until /api/health answers; returns (process, base URL)."""
    if not is_loopback(host):
        raise ServerError(
            f"{host} is not a loopback address; `plotline ui` only serves on loopback "
            f"(use `prefect server start` behind your own access control to expose a server)"
        )
    url = server_url(host, port)
    if not port_free(host, port):
        hint = " (a Prefect server already answers there)" if healthy(url) else ""
        raise ServerError(f"{host}:{port} is in use{hint}; pick another port with --port")
    proc, tail = spawn_server(server_command(host, port), server_env(home, f"{url}/api"), log, "prefect-server-output")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the Prefect server exited with {proc.returncode}:\n" + "\n".join(tail))
        if healthy(url, timeout_s=1.0):
            return proc, url
        time.sleep(0.5)
    stop_group(proc)
    raise ServerError(f"the Prefect server did not answer {url}/api/health within {timeout_s:g} s:\n" + "\n".join(tail))
