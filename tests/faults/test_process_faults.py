"""Kills and signals of a real `plotline train` (plugin test stages, its own embedded Prefect API):

- kill -9 while a stage holds the GPU slot: no process of the train survives it, and the next train says it waits
  for the slot (naming the limit and the dead holder), releases the dead holder's lease and completes;
- one SIGTERM: the running stage finishes and commits, the command exits 143 and says how to resume;
- a second SIGTERM: the process stops at once, committing nothing of the interrupted stage; no orphan either.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from plotline.store import RunStore
from tests.faults.conftest import assert_run_valid
from tests.flows.helpers import REPO, child_env, pid_alive, wait_for
from tests.flows.plugin_stages import MODULE

LIMIT = "fault-gpu"
SETTINGS = [
    f"orchestration.stage_modules=[{MODULE}]",
    "orchestration.setup_stages=[]",
    "orchestration.step_stages=[t_seed,t_count]",
    "orchestration.final_stages=[]",
    "orchestration.gpu_stages=[t_seed,t_count]",
    "orchestration.gpu_slots=1",
    f"orchestration.gpu_limit_name={LIMIT}",
    "orchestration.gpu_lease_s=3",
    "orchestration.slot_poll_s=0.5",
    "orchestration.slot_wait_report_s=5",
    "orchestration.stage_retries=0",
    "orchestration.audit=false",
]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren, ...), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(stat.parent.name)] = int(fields[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - out
        out |= frontier
    return {p for p in out if pid_alive(p)}


class Train:
    """`python -m plotline.cli train` on the plugin stages in a session of its own, output in a file."""

    def __init__(self, tmp: Path, name: str, run: str, block: str = ""):
        self.log = tmp / f"{name}.out"
        env = child_env(
            PREFECT_HOME=str(tmp / "prefect-home"),
            PLOTLINE_TEST_BLOCK=block,
            PLOTLINE_TEST_CALLS=str(tmp / "calls.txt"),
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        env.pop("PREFECT_API_URL", None)  # the command starts its own embedded API
        sets = [arg for s in SETTINGS for arg in ("--set", s)]
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "plotline.cli", "train", "--run", run, "--steps", "1", *sets],
                cwd=REPO,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"train still running after {timeout_s:g} s:\n{self.output[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _started(train: Train, gate: Path) -> None:
    wait_for(
        lambda: gate.with_suffix(".started").exists() or train.proc.poll() is not None,
        180,
        "the blocked stage to start",
    )
    assert train.proc.poll() is None, train.output[-3000:]


def _no_orphans(procs: set[int]) -> None:
    wait_for(lambda: not any(pid_alive(p) for p in procs), 60, f"processes {sorted(procs)} of the train to exit")


@pytest.fixture
def run(tmp_path) -> str:
    return str(tmp_path / "runs" / "procs")


def test_kill9_leaves_no_orphan_and_the_next_train_reclaims_the_slot(tmp_path, run):
    gate = tmp_path / "gate"
    first = Train(tmp_path, "first", run, block=f"t_seed@0={gate}")
    try:
        _started(first, gate)  # t_seed@0 runs, holding the GPU slot
        children = descendants(first.proc.pid)
        assert children, "the train should have started its embedded Prefect API as a child"
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
        _no_orphans(children)
    finally:
        first.kill()

    second = Train(tmp_path, "second", run)
    try:
        assert second.wait(240) == 0, second.output[-3000:]
    finally:
        second.kill()
    out = second.output
    waiting = re.search(
        rf"waiting for a slot of GPU limit '{LIMIT}' \(1/1 slot\(s\) taken.*\): held by flow run "
        rf"procs/t_seed@0 \(\S+\), stage t_seed, pid {first.proc.pid} ",
        out,
    )
    assert waiting, out[-3000:]
    assert re.search(
        rf"released the slot of GPU limit '{LIMIT}' held by flow run procs/t_seed@0 .*presumed dead", out
    ), out
    store = RunStore(run)
    assert store.latest("t_seed", 0) is not None and store.latest("t_count", 0) is not None
    assert_run_valid(run)


def test_one_sigterm_finishes_the_stage_and_exits_143(tmp_path, run):
    gate = tmp_path / "gate"
    train = Train(tmp_path, "term", run, block=f"t_seed@0={gate}")
    try:
        _started(train, gate)
        children = descendants(train.proc.pid)
        train.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM received; finishing" in train.output, 30, "the stop notice")
        gate.with_suffix(".release").touch()
        assert train.wait(120) == 143, train.output[-3000:]
        _no_orphans(children)
    finally:
        train.kill()
    out = train.output
    assert "stopped by SIGTERM after stage t_seed@0" in out and "rerun the same command to resume" in out, out
    store = RunStore(run)
    assert store.latest("t_seed", 0) is not None and store.latest("t_count", 0) is None
    assert_run_valid(run)


def test_a_second_sigterm_stops_at_once_committing_nothing(tmp_path, run):
    gate = tmp_path / "gate"
    train = Train(tmp_path, "term2", run, block=f"t_seed@0={gate}")
    try:
        _started(train, gate)
        children = descendants(train.proc.pid)
        train.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM received; finishing" in train.output, 30, "the stop notice")
        train.proc.send_signal(signal.SIGTERM)
        assert train.wait(60) == -signal.SIGTERM, train.output[-3000:]  # the gate was never released
        _no_orphans(children)
    finally:
        train.kill()
    store = RunStore(run)
    assert store.latest("t_seed", 0) is None
    assert_run_valid(run)
