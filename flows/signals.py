"""Stop a long flow cleanly: the first SIGINT/SIGTERM lets the running stage finish, the flow then stops.

A second signal terminates the process at once (the signal's default action); a stage killed that way commits
nothing. The signal that stopped the last flow is kept process-wide (`StopRequest.last_signal`), so a command
can exit with the conventional code (`exit_code`: 130 for SIGINT, 143 for SIGTERM) and say so. Handlers are only installed in the
main thread and the previous ones are restored on exit. Stages run in a helper thread meanwhile (see
flows/dispatch.py), so Prefect's own per-flow SIGTERM bridge, which crashes the running flow, is not installed
around them. Committed stages are never lost either way: the next run resumes after them.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import ClassVar

EXIT_CODES = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


def exit_code(signal_name: str) -> int:
    """The shell's exit status of a process stopped by `signal_name`: 128 + its number (130, 143)."""
    return EXIT_CODES.get(signal_name, 128 + int(signal.Signals[signal_name]))


class StopRequest:
    """Context manager that turns the first SIGINT/SIGTERM into a request to stop between stages."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    last_signal: ClassVar[str | None] = None
    """Name of the signal that stopped the most recent StopRequest of this process (None: none did)."""

    def __init__(self, what: str = "the running stage"):
        self.signal_name: str | None = None
        self._what = what
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:  # second signal: terminate now, as if no handler were installed
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal_name = name
        StopRequest.last_signal = name
        # os.write is async-signal-safe (logging is not): tell the user right away what happens next
        os.write(
            2,
            f"\nplotline: {name} received; finishing {self._what}, then stopping "
            f"(send it again to abort now)\n".encode(),
        )

    @classmethod
    def forget(cls) -> None:
        """Clear `last_signal` (before starting a flow whose stop a caller wants to see)."""
        cls.last_signal = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)  # type: ignore[arg-type]
            except (ValueError, OSError, TypeError):
                pass
        self._previous.clear()

    def __exit__(self, *exc) -> None:
        self._restore()
