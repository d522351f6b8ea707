"""Stop a long flow cleanly: the first SIGINT/SIGTERM lets the running stage finish, the flow then stops.

A second signal terminates the process at once (the signal's default action). Handlers are only installed in the
main thread and the previous ones are restored on exit. Stages run in a helper thread meanwhile (see
flows/dispatch.py), so Prefect's own per-flow SIGTERM bridge, which crashes the running flow, is not installed
around them. Committed stages are never lost either way: the next run resumes after them.
"""
from __future__ import annotations

import os
import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager that turns the first SIGINT/SIGTERM into a request to stop between stages."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

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
        # os.write is async-signal-safe (logging is not): tell the user right away what happens next
        os.write(2, f"\nplotline: {name} received; finishing {self._what}, then stopping "
                    f"(send it again to abort now)\n".encode())

    def __enter__(self) -> "StopRequest":
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
