"""`programmatic` judge backend: Python callables that answer in the judges' JSON schemas.

The shapes world registers one function per judge kind with `register_programmatic_judge`; each takes the
JudgeRequest (frames as PNG bytes, ground truth in `request.meta`) and returns the reply text, which then
goes through the same parser as a model's reply. A function may also carry `prepare(requests)`, called once per
batch before the replies (`prepare_batch`): the world's video judges observe all the batch's frames there at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.registry import register_backend

ProgrammaticJudge = Callable[[JudgeRequest], str]
_JUDGES: dict[str, ProgrammaticJudge] = {}


def register_programmatic_judge(kind: str, fn: ProgrammaticJudge | None = None):
    """Register `fn` as the programmatic judge of `kind` (`plan`, `temporal`, `step`); usable as a decorator.
    A later registration replaces an earlier one (a world can override a default)."""

    def deco(f: ProgrammaticJudge) -> ProgrammaticJudge:
        _JUDGES[kind] = f
        return f

    return deco(fn) if fn is not None else deco


def unregister_programmatic_judge(kind: str) -> None:
    """Remove the judge of `kind` (tests)."""
    _JUDGES.pop(kind, None)


def prepare_batch(requests: Sequence[JudgeRequest]) -> None:
    """Let the registered judges prepare for a batch: a judge function with a `prepare(requests)` attribute gets
    its kind's requests at once (e.g. to decode and observe all their frames in one pass), each distinct
    `prepare` once with the requests of every kind that shares it. A speed-up only: a failure there is left to
    each request's own call, which reports it."""
    groups: dict[Callable, list[JudgeRequest]] = {}
    for req in requests:
        prepare = getattr(_JUDGES.get(req.kind), "prepare", None)
        if prepare is not None:
            groups.setdefault(prepare, []).append(req)
    for fn, reqs in groups.items():
        try:
            fn(reqs)
        except Exception:  # noqa: BLE001 - each request's own call reports the failure
            pass


class ProgrammaticJudgeBackend:
    """Answers each request with the registered function of its kind; a missing function or an exception
    becomes a response with `error` (the request is then unscored, never 0)."""

    name = "programmatic"

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Call the registered judge of each request's kind (after `prepare_batch`)."""
        prepare_batch(requests)
        out = []
        for req in requests:
            start = time.perf_counter()
            fn = _JUDGES.get(req.kind)
            if fn is None:
                out.append(JudgeResponse(None, 0.0, error=f"no programmatic judge registered for kind {req.kind!r}"))
                continue
            try:
                raw = fn(req)
                out.append(JudgeResponse(str(raw), time.perf_counter() - start))
            except Exception as exc:  # noqa: BLE001 - a broken judge must not crash the scorer
                out.append(JudgeResponse(None, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}"))
        return out


@register_backend("programmatic")
def _make(config: RewardsConfig) -> ProgrammaticJudgeBackend:
    return ProgrammaticJudgeBackend()
