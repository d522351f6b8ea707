"""What every judge backend receives and returns."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol


@dataclass(frozen=True)
class JudgeRequest:
    """One judge call: a system + user prompt, optional frames (PNG bytes, in order), and the model asked.

    `kind` is the judge kind (`plan`, `temporal`, `step`) whose schema the reply must follow;
    `n_frames` the number of frame scores expected (temporal judge); `meta` free context for
    programmatic judges (e.g. ground-truth steps) that is not part of the prompt; `pixels`, when the builder
    has them, the frames `images` encode (HxWx3 uint8, exactly what decoding each image gives), so an in-process
    judge need not decode them (never part of the key: the images are)."""

    kind: str
    model: str
    system: str
    user: str
    images: tuple[bytes, ...] = ()
    n_frames: int | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    pixels: tuple | None = field(default=None, compare=False, hash=False, repr=False)

    @cached_property
    def frames_hash(self) -> str:
        """sha256 over the frames' bytes (in order); empty string when there are none."""
        if not self.images:
            return ""
        h = hashlib.sha256()
        for img in self.images:
            h.update(hashlib.sha256(img).digest())
        return h.hexdigest()

    @cached_property
    def cache_key(self) -> str:
        """sha256 of (model, prompt, frames hash): identical calls share one reply."""
        h = hashlib.sha256()
        for part in (self.model, self.kind, self.system, self.user, self.frames_hash):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()


@dataclass
class JudgeResponse:
    """The transport outcome of one call: the raw reply text, or the error that prevented one."""

    raw: str | None
    latency_s: float
    error: str | None = None
    attempts: int = 1
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when a reply text came back (it may still be unparseable)."""
        return self.error is None and self.raw is not None


class JudgeBackend(Protocol):
    """A judge backend answers a batch of requests, one response per request, in order, and never raises
    for a single failed call (it returns a response with `error` set)."""

    name: str

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Answer every request; failures become responses with `error`."""
        ...
