"""How the `plotline` commands show stage progress (plotline/progress.py events): a rich bar per running task on
a terminal (iterations, loss, elapsed time and ETA); off a terminal a few plain lines per task, one each time it
crosses another tenth of its total, with the loss and the ETA, never escape codes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from plotline.progress import ProgressEvent, format_plain_line, listening

STEPS_PER_TASK = 10
"""Off a terminal a task with a known total prints at most this many lines (one per tenth)."""


@dataclass
class _Task:
    started: float
    first_done: int
    done: int
    printed: int


class PlainLines:
    """A progress listener that writes sparse plain lines: for a known total one line each time a task crosses
    another 1/`steps` of it (at most `steps` lines per task), for an unknown total one line at 1, 10, 100, ...
    units. The ETA extrapolates the task's rate since its first report; `clock` is injectable."""

    def __init__(
        self, write: Callable[[str], None], steps: int = STEPS_PER_TASK, clock: Callable[[], float] = time.monotonic
    ):
        self.write, self.steps, self.clock = write, steps, clock
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()

    def _eta(self, task: _Task, event: ProgressEvent) -> float | None:
        units = event.done - task.first_done
        if not event.total or units <= 0:
            return None
        return (self.clock() - task.started) / units * (event.total - event.done)

    def __call__(self, event: ProgressEvent) -> None:
        """Record `event`; write a line when it starts a new tenth (or a new power of ten) of its task."""
        with self._lock:
            task = self._tasks.get(event.label)
            if task is None or event.done < task.done:  # new task, or the same label started over
                task = self._tasks[event.label] = _Task(self.clock(), event.done, event.done, 0)
            task.done = event.done
            if event.done <= 0:
                return
            if event.total:
                mark = min(self.steps, event.done * self.steps // event.total)
            else:
                mark = len(str(event.done)) if str(event.done).strip("0") == "1" else task.printed
            if mark <= task.printed:
                return
            task.printed = mark
            line = format_plain_line(event, self._eta(task, event))
        self.write(line)

    def close(self) -> None:
        """Nothing to tear down."""


class Bars:
    """A progress listener that draws one transient rich bar per running task (label, bar, done/total, loss,
    elapsed, ETA) on `console`; a task's bar goes away when it completes."""

    def __init__(self, console: Console):
        self.progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, object] = {}
        self._started = False
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        """Create, advance or finish the bar of `event.label`."""
        loss = "" if event.loss is None else f"loss {event.loss:.4g}"
        with self._lock:
            if not self._started:
                self.progress.start()
                self._started = True
            tid = self._tasks.get(event.label)
            if tid is None:
                tid = self._tasks[event.label] = self.progress.add_task(event.label, total=event.total, loss=loss)
            self.progress.update(tid, completed=event.done, total=event.total, loss=loss)  # type: ignore[arg-type]
            if event.total and event.done >= event.total:
                self.progress.remove_task(tid)  # type: ignore[arg-type]
                del self._tasks[event.label]

    def close(self) -> None:
        """Stop the live display (if it ever started)."""
        with self._lock:
            if self._started:
                self.progress.stop()
                self._started = False


@contextlib.contextmanager
def progress_display(console: Console | None = None) -> Iterator[PlainLines | Bars]:
    """Show every progress event of this process while the block runs: bars on a terminal, plain lines on a pipe."""
    from plotline.console import console as default

    out = console or default
    renderer: PlainLines | Bars
    if out.is_terminal:
        renderer = Bars(out)
    else:
        renderer = PlainLines(lambda text: out.print(text, highlight=False, markup=False, soft_wrap=True))
    with listening(renderer):
        try:
            yield renderer
        finally:
            renderer.close()
