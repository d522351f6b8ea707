"""Worker progress through files: the throttled writer, the parent's poller and both through `run_shards`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import parallel_jobs  # noqa: F401 - registers the test job kinds in this process
import pytest

from plotline.parallel import jobs, launch
from plotline.parallel.collective import Collective
from plotline.parallel.progress import (
    ProgressFactory,
    ProgressFile,
    ProgressPoller,
    make_poller,
    progress_path,
    read_progress_file,
)
from plotline.parallel.spec import WorkerSpec
from plotline.progress import Progress, ProgressEvent, no_progress, reporter

HERE = str(Path(__file__).resolve().parent)


class Clock:
    """A hand-moved clock: the throttle's decisions depend on it only."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _collector() -> tuple[dict[str, list[ProgressEvent]], ProgressFactory]:
    events: dict[str, list[ProgressEvent]] = {}

    def factory(label: str) -> Progress:
        events.setdefault(label, [])
        return reporter(label, events[label].append, broadcast=False)

    return events, factory


def test_a_fast_loop_writes_the_first_and_the_final_report_only(tmp_path):
    clock = Clock()
    out = ProgressFile(progress_path(tmp_path, 1, 0), 1, "fast", interval_s=0.25, clock=clock)
    for done in range(1001):
        out(done, 1000, 0.5)
        if done == 3:
            assert read_progress_file(out.path) == (1, "fast", (0, 1000, 0.5))
    assert out.writes == 2  # (0, 1000) and the final (1000, 1000); the 999 in between came within the interval
    assert read_progress_file(out.path) == (1, "fast", (1000, 1000, 0.5))
    assert json.loads(out.path.read_text())["description"] == "fast"
    assert not [p for p in out.path.parent.iterdir() if p.name != out.path.name]  # no temporary file left


def test_the_interval_lets_reports_through_and_flush_writes_the_held_back_one(tmp_path):
    clock = Clock()
    out = ProgressFile(progress_path(tmp_path, 0, 2), 0, "open", interval_s=0.25, clock=clock)
    out(0, None)
    out(1, None)  # held back
    assert (out.writes, read_progress_file(out.path)) == (1, (0, "open", (0, None, None)))
    clock.now += 0.25
    out(2, None, 1.5)
    assert (out.writes, read_progress_file(out.path)) == (2, (0, "open", (2, None, 1.5)))
    out(3, None)  # held back: unknown total, so never final
    out.flush()
    assert (out.writes, read_progress_file(out.path)) == (3, (0, "open", (3, None, None)))
    out.flush()  # nothing new: no write
    assert out.writes == 3


def test_the_poller_forwards_each_change_once_and_skips_half_written_files(tmp_path):
    events, factory = _collector()
    poller = ProgressPoller(tmp_path, "rank", factory)
    assert poller.poll() == 0  # no folder yet
    a = ProgressFile(progress_path(tmp_path, 0, 0), 0, "gspo", interval_s=0.0)
    b = ProgressFile(progress_path(tmp_path, 1, 0), 1, "gspo", interval_s=0.0)
    half = progress_path(tmp_path, 2, 0)
    half.parent.mkdir(parents=True)
    half.write_text('{"rank": 2, "description": "gspo", "do')
    (tmp_path / "progress" / ".rank3-0.json.1.tmp").write_text("{}")  # a temporary file is not a progress file
    a(0, 4)
    b(0, 4)
    assert poller.poll() == 2
    assert poller.poll() == 0  # unchanged: not forwarded again
    a(1, 4, 0.25)
    assert poller.poll() == 1
    half.write_text(json.dumps({"rank": 2, "description": "gspo", "done": 4, "total": 4, "loss": None}))
    assert poller.poll() == 1  # the completed file is read on the next poll
    assert events == {
        "rank 0 gspo": [ProgressEvent("rank 0 gspo", 0, 4), ProgressEvent("rank 0 gspo", 1, 4, 0.25)],
        "rank 1 gspo": [ProgressEvent("rank 1 gspo", 0, 4)],
        "rank 2 gspo": [ProgressEvent("rank 2 gspo", 4, 4)],
    }
    # a new launch in the same folder starts from no progress files
    assert make_poller(tmp_path, "rank", factory) is not None
    assert not list((tmp_path / "progress").glob("*.json"))
    assert make_poller(tmp_path, "rank", None) is None


def test_the_worker_reporter_names_the_shard_or_the_accelerate_rank(tmp_path):
    spec = WorkerSpec(kind="k", module="m", out_dir=str(tmp_path), workdir=str(tmp_path), shard=3, num_shards=4)

    class Rank1(Collective):
        rank, world_size = 1, 2

    shard_ctx = jobs.WorkerContext(spec, Collective(), "cpu")
    shard_ctx.reporter("a")(1, 2)
    shard_ctx.reporter("b")(2, 2)
    rank_ctx = jobs.WorkerContext(spec.model_copy(update={"launcher": "accelerate"}), Rank1(), "cpu")
    rank_ctx.reporter("a")(0, 2)
    assert read_progress_file(progress_path(tmp_path, 3, 0)) == (3, "a", (1, 2, None))
    assert read_progress_file(progress_path(tmp_path, 3, 1)) == (3, "b", (2, 2, None))
    assert read_progress_file(progress_path(tmp_path, 1, 0)) == (1, "a", (0, 2, None))
    # outside a launch (no work folder) reports go nowhere
    assert jobs.WorkerContext(spec.model_copy(update={"workdir": ""}), Collective(), "cpu").reporter("a") is no_progress


@pytest.fixture
def job_path(monkeypatch):
    """Worker processes import the test job module from this folder."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    )


def test_run_shards_forwards_every_shards_progress_to_the_end(tmp_path, job_path):
    events, factory = _collector()
    spec = jobs.job_spec("test_progress", sections={}, inputs={"n": 5, "fast": 20000}, out_dir=str(tmp_path))
    results = launch.run_shards([spec, spec], [None, None], tmp_path / "work", what="progress", progress=factory)
    assert results == [0, 1]
    assert sorted(events) == ["shard 0 count", "shard 0 fast", "shard 1 count", "shard 1 fast"]  # rank 9 skipped
    for label, seen in events.items():
        shard, total = int(label.split()[1]), (20000 if label.endswith("fast") else 5 + int(label.split()[1]))
        done = [e.done for e in seen]
        assert seen[-1] == ProgressEvent(label, total, total, None if label.endswith("fast") else float(total))
        assert done == sorted(set(done)), label  # each report forwarded once, in the order it was made
        assert all(e.total == total for e in seen)
        if label.endswith("count"):
            assert all(e.loss == float(e.done) for e in seen)
        assert shard in (0, 1)


def test_the_accelerate_wait_keeps_its_timeout_and_ticks_while_it_waits(tmp_path):
    ticks: list[int] = []
    quick = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"], start_new_session=True)
    assert launch._wait(quick, 60, "quick", lambda: ticks.append(1)) == 3
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    with pytest.raises(launch.WorkerError, match=r"slow: still running after 0 s; stopped"):
        launch._wait(slow, 0.2, "slow", lambda: ticks.append(1))
    assert slow.poll() is not None  # stopped, not left running
    assert ticks  # the slow process was polled while it ran
