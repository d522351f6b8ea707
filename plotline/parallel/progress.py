"""Progress of worker processes, carried to the parent through small JSON files in the launch's work folder.

A worker's `WorkerContext.reporter(description)` is a `ProgressFile`: each report replaces
`<workdir>/progress/rank<r>-<n>.json` (the n-th reporter of rank r) with the latest `(done, total, loss)`, written
atomically (temporary file + `os.replace`) and at most once per `interval_s` (the first report, the final one,
done == total, and a `flush` always write). While the parent waits for its workers, a `ProgressPoller` reads those
files and forwards every changed report to a Progress made by the caller's factory from the label
`<word> <r> <description>` (`shard 0 plans`, `rank 1 gspo`). Reporting is observation only: it reads numbers the
loop already computed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from plotline.progress import Progress

PROGRESS_DIR = "progress"
"""Folder of the work folder holding the workers' progress files."""
PROGRESS_INTERVAL_S = 0.25
"""Least time between two writes of one progress file (the first and the final report always write)."""

ProgressFactory = Callable[[str], Progress]
"""A label suffix (`shard 0 plans`) → the Progress its reports go to (a stage passes `StageContext.reporter`)."""

Report = tuple[int, int | None, float | None]


def progress_dir(workdir: str | Path) -> Path:
    """Where the workers of the launch in `workdir` write their progress files."""
    return Path(workdir) / PROGRESS_DIR


def progress_path(workdir: str | Path, rank: int, index: int) -> Path:
    """The progress file of reporter `index` (in creation order) of rank `rank`."""
    return progress_dir(workdir) / f"rank{rank}-{index}.json"


class ProgressFile:
    """A Progress that keeps the latest report of one (rank, description) in a JSON file (see module docstring)."""

    def __init__(
        self,
        path: str | Path,
        rank: int,
        description: str,
        interval_s: float = PROGRESS_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path, self.rank, self.description = Path(path), int(rank), description
        self.interval_s, self.clock = interval_s, clock
        self.writes = 0
        """How many times the file was written (a throttled loop writes far fewer times than it reports)."""
        self._latest: Report | None = None
        self._written: Report | None = None
        self._last_write: float | None = None

    def __call__(self, done: int, total: int | None, loss: float | None = None) -> None:
        """Record the report; write it when it is the first, the final (done ≥ total) or `interval_s` has passed."""
        self._latest = (int(done), None if total is None else int(total), None if loss is None else float(loss))
        final = total is not None and done >= total
        now = self.clock()
        if final or self._last_write is None or now - self._last_write >= self.interval_s:
            self._write(now)

    def flush(self) -> None:
        """Write the latest report if the throttle held it back."""
        if self._latest is not None and self._latest != self._written:
            self._write(self.clock())

    def _write(self, now: float) -> None:
        assert self._latest is not None
        done, total, loss = self._latest
        record = {"rank": self.rank, "description": self.description, "done": done, "total": total, "loss": loss}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.path)
        self._written, self._last_write = self._latest, now
        self.writes += 1


def read_progress_file(path: str | Path) -> tuple[int, str, Report] | None:
    """(rank, description, (done, total, loss)) of a progress file; None when it is unreadable or malformed (a
    file being replaced, a foreign file): the next poll reads it again."""
    try:
        raw = json.loads(Path(path).read_text())
        total, loss = raw["total"], raw["loss"]
        report: Report = (
            int(raw["done"]),
            None if total is None else int(total),
            None if loss is None else float(loss),
        )
        return int(raw["rank"]), str(raw["description"]), report
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ProgressPoller:
    """Forwards the progress files of a launch to `factory(f"{word} {rank} {description}")`, each changed report
    once, in (rank, reporter) order."""

    def __init__(self, workdir: str | Path, word: str, factory: ProgressFactory):
        self.folder, self.word, self.factory = progress_dir(workdir), word, factory
        self._sinks: dict[tuple[int, str], Progress] = {}
        self._seen: dict[Path, Report] = {}

    def poll(self) -> int:
        """Read every progress file now and forward the reports that changed since the last poll; how many."""
        if not self.folder.is_dir():
            return 0
        found = []
        for path in self.folder.glob("rank*-*.json"):
            rank_text, _, index_text = path.stem.removeprefix("rank").partition("-")
            if rank_text.isdigit() and index_text.isdigit():
                found.append((int(rank_text), int(index_text), path))
        forwarded = 0
        for _, _, path in sorted(found):
            entry = read_progress_file(path)
            if entry is None or self._seen.get(path) == entry[2]:
                continue
            rank, description, report = entry
            self._seen[path] = report
            key = (rank, description)
            if key not in self._sinks:
                self._sinks[key] = self.factory(f"{self.word} {rank} {description}")
            self._sinks[key](*report)
            forwarded += 1
        return forwarded


def make_poller(workdir: str | Path, word: str, factory: ProgressFactory | None) -> ProgressPoller | None:
    """A poller of the launch in `workdir` for `factory` (None: no poller), with stale progress files of an
    earlier launch in the same folder removed."""
    if factory is None:
        return None
    folder = progress_dir(workdir)
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file():
                path.unlink()
    return ProgressPoller(workdir, word, factory)
