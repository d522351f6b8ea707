"""The one progress mechanism: a long loop reports `(done, total, loss)` to a `Progress` callback, and whoever runs
it (the CLI's bar, a Prefect progress artifact) listens.

A stage makes its callbacks with `StageContext.reporter(description)`: each report becomes a `ProgressEvent`
labelled `<stage>@<step> <description>`, handed to the stage's own hook and to the listeners this process has
installed with `listening(...)`. Reporting reads Python numbers the loop already computed; it touches no random
generator and no tensor, so a run with progress is the same computation as one without.
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """What a library loop calls after each unit of work: `done` units of `total` (None: unknown), and the loss
    of the unit just finished where there is one."""

    def __call__(self, done: int, total: int | None, loss: float | None = None) -> None: ...


def no_progress(done: int, total: int | None, loss: float | None = None) -> None:
    """A Progress that discards every report (the default of library loops)."""


@dataclass(frozen=True)
class ProgressEvent:
    """One report of a labelled task: `done` of `total` units, with the latest loss when the loop has one."""

    label: str
    done: int
    total: int | None
    loss: float | None = None

    @property
    def fraction(self) -> float | None:
        """done / total in [0, 1], None when the total is unknown (or 0)."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


Listener = Callable[[ProgressEvent], None]
"""Receives every ProgressEvent published in this process (the CLI's renderer)."""

_LISTENERS: list[Listener] = []
_LOCK = threading.Lock()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Install `listener` for the duration of the block: every event published in this process reaches it."""
    with _LOCK:
        _LISTENERS.append(listener)
    try:
        yield listener
    finally:
        with _LOCK:
            if listener in _LISTENERS:
                _LISTENERS.remove(listener)


def publish(event: ProgressEvent) -> None:
    """Hand `event` to every installed listener. A listener that raises is removed with a warning: progress display
    never stops the work it reports on."""
    with _LOCK:
        listeners = list(_LISTENERS)
    for listener in listeners:
        try:
            listener(event)
        except Exception as exc:  # noqa: BLE001 - display only
            with _LOCK:
                if listener in _LISTENERS:
                    _LISTENERS.remove(listener)
            warnings.warn(f"progress listener {listener!r} failed and was removed: {exc}", stacklevel=2)


def reporter(label: str, *sinks: Listener | None, broadcast: bool = True) -> Progress:
    """A Progress whose reports become `ProgressEvent(label, ...)` for each of `sinks` (None entries are skipped)
    and, with `broadcast`, for this process's listeners."""
    targets = [s for s in sinks if s is not None]

    def report(done: int, total: int | None, loss: float | None = None) -> None:
        event = ProgressEvent(
            label, int(done), None if total is None else int(total), None if loss is None else float(loss)
        )
        for sink in targets:
            sink(event)
        if broadcast:
            publish(event)

    return report


def track(iterable: Iterable[T], progress: Progress, total: int | None = None) -> Iterator[T]:
    """Yield the items of `iterable`, reporting (0, total) first and (i, total) after the i-th item is processed
    (`total` defaults to len(iterable) when it has one)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    progress(0, total)
    done = 0
    for item in iterable:
        yield item
        done += 1
        progress(done, total)


def phase(progress: Progress | None, start: int, total: int) -> Progress | None:
    """A phase of a longer loop: its report (done, _, loss) becomes (start + done, total, loss) of the whole
    (None stays None)."""
    if progress is None:
        return None
    outer, whole = progress, total

    def report(done: int, total: int | None, loss: float | None = None) -> None:
        outer(start + done, whole, loss)

    return report


PLAIN_PREFIX = "progress "
"""Start of a plain progress line (what the CLI prints off a terminal; `parse_plain_line` reads it back)."""

_PLAIN = re.compile(
    r"^progress (?P<label>.+?): (?P<done>\d+)(?:/(?P<total>\d+))?(?: \(\d+%\))?(?: loss (?P<loss>\S+))?(?: eta \S+)?$"
)


def format_eta(seconds: float | None) -> str:
    """`1h02m`, `3m05s`, `12s`, or `?` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def format_plain_line(event: ProgressEvent, eta_s: float | None = None) -> str:
    """One plain progress line: `progress <label>: done/total (p%) loss L eta T` (loss and eta when known)."""
    text = f"{PLAIN_PREFIX}{event.label}: {event.done}"
    if event.total:
        text += f"/{event.total} ({int(100 * (event.fraction or 0.0))}%)"
    if event.loss is not None:
        text += f" loss {event.loss:.4g}"
    if event.total:
        text += f" eta {format_eta(0.0 if event.done >= event.total else eta_s)}"
    return text


def parse_plain_line(line: str) -> ProgressEvent | None:
    """The ProgressEvent of a plain progress line (as `format_plain_line` writes it), None for any other line."""
    m = _PLAIN.match(line.strip())
    if m is None:
        return None
    loss = m.group("loss")
    try:
        value = float(loss) if loss is not None else None
    except ValueError:
        value = None
    total = m.group("total")
    return ProgressEvent(m.group("label"), int(m.group("done")), int(total) if total else None, value)
