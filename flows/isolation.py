"""Run one stage as a `plotline stage` child process, with a wall-clock limit that really stops it.

A thread cannot be stopped; a process group can. The child runs in its own session (so a terminal Ctrl-C meant for
the flow does not kill it mid-write), gets the exact resolved config as a YAML file and the pinned input
manifests, and on timeout its whole process group gets SIGTERM, then SIGKILL after a grace period. A killed
child commits nothing (its attempt folder is left for `plotline gc`).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from flows.params import STAGE_MODULES_ENV, stage_module_names
from flows.resolve import StagePlan, find_committed, plan_stage, record
from plotline.config import PlotlineConfig
from plotline.procs import die_with_parent
from plotline.progress import ProgressEvent, parse_plain_line, publish
from plotline.store import RunStore
from plotline.store.errors import MissingInput


class StageTimeout(TimeoutError):
    """A stage ran past its wall-clock limit and its process group was killed."""


class StageProcessFailed(RuntimeError):
    """The `plotline stage` child process exited with an error."""


def stage_command(
    name: str, config_path: str, run_uri: str, step: int, inputs: dict[str, str], force: bool
) -> list[str]:
    """The `plotline stage ...` command line (run with this interpreter, so the same environment)."""
    cmd = [
        sys.executable,
        "-m",
        "plotline.cli",
        "stage",
        name,
        "--run",
        run_uri,
        "--step",
        str(step),
        "--config",
        config_path,
    ]
    for key, uri in sorted(inputs.items()):
        cmd += ["--input", f"{key}={uri}"]
    if force:
        cmd.append("--force")
    return cmd


def child_env(config: PlotlineConfig) -> dict[str, str]:
    """Environment of a stage child process: this one, plus plugin stage modules and the working directory on
    the import path (so plugin modules import the same way as here)."""
    env = dict(os.environ)
    modules = stage_module_names(config)
    if modules:
        env[STAGE_MODULES_ENV] = ",".join(modules)
    paths = [os.getcwd()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _kill_group(proc: subprocess.Popen, grace_s: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def streams_missing(name: str, config: PlotlineConfig) -> bool:
    """Whether stage `name` may start before some of its inputs are committed (StageSpec.streamed)."""
    from stages.base import get_spec

    spec = get_spec(name)
    return spec.streamed is not None and bool(spec.streamed(config))


def run_stage_process(
    name: str,
    config: PlotlineConfig,
    run_uri: str,
    step: int,
    *,
    inputs: dict[str, str] | None = None,
    force: bool = False,
    timeout_s: float | None = None,
    grace_s: float = 10.0,
    log: Callable[[str], None] = print,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> dict[str, Any]:
    """Run stage `name` in a child process and return the reference to what it committed (or found committed).

    The child's plain progress lines (plotline.progress) are read back as progress events: handed to
    `on_progress` and to this process's progress listeners.

    Raises StageTimeout after killing the child when it runs past `timeout_s`, StageProcessFailed when it fails.
    """
    inputs = dict(inputs or {})
    try:
        plan: StagePlan | None = plan_stage(name, config, run_uri, step, inputs)
    except MissingInput:
        if not streams_missing(name, config):
            raise
        plan = None  # a streamed input commits while the child runs; the digest is known after it
    if plan is not None and plan.committed is not None and not force:
        return record(plan.committed, "skipped")
    before = plan.versions if plan is not None else RunStore(run_uri, config.storage).versions(name, step)
    newest = before[-1] if before else -1
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with tempfile.TemporaryDirectory(prefix="plotline-stage-") as tmp:
        cfg_path = Path(tmp) / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        cmd = stage_command(name, str(cfg_path), run_uri, step, inputs, force)
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(config),
            start_new_session=True,
            text=True,
            errors="replace",
            preexec_fn=die_with_parent(),
        )
        if on_start is not None:
            on_start(proc.pid)

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                if not line:
                    continue
                event = parse_plain_line(line)
                if event is not None:
                    if on_progress is not None:
                        on_progress(event)
                    publish(event)
                    continue
                tail.append(line)
                log(f"[{name}@{step} pid {proc.pid}] {line}")

        reader = threading.Thread(target=pump, name=f"stage-{name}-output", daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc, grace_s)
            reader.join(timeout=5)
            raise StageTimeout(
                f"stage {name!r} at step {step} ran past its {timeout_s:g} s limit; its process group "
                f"(pid {proc.pid}) was killed and nothing was committed"
            ) from None
        except BaseException:
            _kill_group(proc, grace_s)
            raise
        reader.join(timeout=5)
    if proc.returncode != 0:
        raise StageProcessFailed(
            f"`plotline stage {name} --step {step}` exited with {proc.returncode} after "
            f"{time.monotonic() - started:.1f} s:\n" + "\n".join(tail)
        )
    store = RunStore(run_uri, config.storage)
    if plan is None:
        plan = plan_stage(name, config, run_uri, step, inputs)
    art = find_committed(store, name, step, plan.digest, plan.area, newer_than=newest if force else None)
    if art is None:
        raise StageProcessFailed(
            f"`plotline stage {name} --step {step}` succeeded but no committed output of {name} at "
            f"step {step} has input digest {plan.digest[:12]}… (did its inputs change meanwhile?)"
        )
    return record(art, "committed")
