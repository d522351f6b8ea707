"""Helpers for the orchestration tests: plugin-stage configs, call logs, bounded waits, child environments."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from plotline.config import PlotlineConfig, load_config
from tests.flows import plugin_stages

REPO = Path(__file__).resolve().parents[2]


def plugin_config(*overrides: str) -> PlotlineConfig:
    """A config running the plugin test stages (no setup stages unless overridden), without stage retries."""
    return load_config(
        overrides=[
            f"orchestration.stage_modules=[{plugin_stages.MODULE}]",
            "orchestration.setup_stages=[]",
            "orchestration.step_stages=[t_seed,t_count]",
            "orchestration.stage_retries=0",
            "orchestration.progress_interval_s=0",
            "orchestration.gpu_limit_name=test-gpu",
            "orchestration.poll_interval_s=0.5",
            *overrides,
        ]
    )


def read_calls(path: Path) -> Counter:
    """How often each `stage@step` ran."""
    return Counter(path.read_text().split()) if path.exists() else Counter()


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.1):
    """Poll `predicate` until it returns something truthy (bounded); fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: this one, the repository on the import path, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
