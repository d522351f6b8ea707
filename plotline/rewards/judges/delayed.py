"""A judge backend wrapper that answers each request only after a fixed delay: the `rewards.emulated_latency_s`
benchmark and test knob, which emulates a remote VLM judge server's per-request latency in front of the
instantaneous shapes-world judges (the streaming score's overlap is then visible; benchmarks/
bench_streaming_score.py). The replies are the inner backend's, unchanged; only their latency grows."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from plotline.rewards.judges.base import JudgeBackend, JudgeRequest, JudgeResponse


class DelayedBackend:
    """`inner`, with `delay_s` seconds of waiting per request (one request after the other, like a server with a
    concurrency of one), added to each response's latency."""

    def __init__(self, inner: JudgeBackend, delay_s: float):
        if delay_s < 0:
            raise ValueError(f"rewards.emulated_latency_s must be >= 0, got {delay_s}")
        self.inner, self.delay_s = inner, float(delay_s)
        self.name = inner.name

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """The inner backend's responses, after `delay_s` per request."""
        time.sleep(self.delay_s * len(requests))
        return [
            dataclasses.replace(r, latency_s=r.latency_s + self.delay_s) for r in self.inner.complete(list(requests))
        ]
