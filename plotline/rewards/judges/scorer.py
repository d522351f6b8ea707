"""Run judge requests through a backend with caching, then parse every reply.

Each outcome keeps the raw reply, latency, attempts, whether it came from the cache, and the parse result.
A transport failure (server down, timeout, HTTP error) becomes status `unscored` with the error as reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plotline.rewards.aggregate import kind_weights
from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges.base import JudgeBackend, JudgeRequest, JudgeResponse
from plotline.rewards.judges.cache import JudgeCache
from plotline.rewards.parsing import parse_reply
from plotline.rewards.schemas import ParseResult


@dataclass
class JudgeOutcome:
    """One judged request: what was asked, what came back, and what it parsed to."""

    request: JudgeRequest
    response: JudgeResponse
    result: ParseResult


class JudgeScorer:
    """Caches, dispatches and parses judge calls for one backend."""

    def __init__(self, backend: JudgeBackend, config: RewardsConfig | None = None, cache: JudgeCache | None = None):
        self.backend = backend
        self.config = config or RewardsConfig()
        self.cache = cache if cache is not None else JudgeCache(self.config.cache_dir)

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> ParseResult:
        """Parse one response against its request's kind; a failed call is unscored with its error."""
        if not response.ok:
            return ParseResult(
                status="unscored", reason=f"judge call failed after {response.attempts} attempt(s): {response.error}"
            )
        return parse_reply(
            request.kind,
            response.raw,
            n_frames=request.n_frames,
            weights=kind_weights(request.kind, self.config.weights),
            min_frame_fraction=self.config.min_frame_fraction,
        )

    def score(
        self, requests: Sequence[JudgeRequest], session: dict[str, JudgeResponse] | None = None
    ) -> list[JudgeOutcome]:
        """Answer every request (cache first; identical misses are sent once) and parse the replies.

        `session` (cache key → response) carries the answers of earlier calls of one stage run, which is updated in
        place: a request answered there is answered the same way, as a repeat within one call is, so several
        calls over parts of a request list give the outcomes of one call over the whole list (the streaming
        score)."""
        responses: dict[str, JudgeResponse] = session if session is not None else {}
        misses: dict[str, JudgeRequest] = {}
        for req in requests:
            key = req.cache_key
            if key in responses or key in misses:
                continue
            entry = self.cache.get(key)
            if entry is not None:
                responses[key] = JudgeResponse(entry["raw"], entry.get("latency_s", 0.0), cached=True)
            else:
                misses[key] = req
        fresh = self.backend.complete(list(misses.values()))
        for (key, req), resp in zip(misses.items(), fresh):
            responses[key] = resp
            if resp.ok:
                self.cache.put(key, {"raw": resp.raw, "latency_s": resp.latency_s, "model": req.model})
        return [
            JudgeOutcome(req, responses[req.cache_key], self.parse(req, responses[req.cache_key])) for req in requests
        ]
