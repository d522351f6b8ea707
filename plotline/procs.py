"""Child processes that die with their parent: a parent-death signal set in the child before it runs anything.

On Linux the child asks the kernel (prctl PR_SET_PDEATHSIG) for SIGTERM when the thread that started it exits,
so a `kill -9` of the parent leaves no orphan. A parent that died before the request took effect is caught by
comparing the child's parent pid with the expected one. Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _libc():
    name = ctypes.util.find_library("c") or "libc.so.6"
    return ctypes.CDLL(name, use_errno=True)


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen that makes the child receive `sig` when its parent (`parent_pid`,
    default: this process) exits; None where the platform has no parent-death signal."""
    if not sys.platform.startswith("linux"):
        return None
    expected = os.getpid() if parent_pid is None else parent_pid
    libc = _libc()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != expected:  # the parent died before the request: act as if the signal came
            os.kill(os.getpid(), sig)

    return preexec
