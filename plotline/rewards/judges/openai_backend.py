"""`openai` judge backend: any OpenAI-compatible chat endpoint (vLLM, Gemini, GPT, `transformers serve`).

Requests run concurrently (bounded by a semaphore), each with its own timeout, and are retried with
exponential backoff on connection errors, timeouts, HTTP 429 and 5xx. A call that still fails comes back
as a response with `error` set, never as an exception and never as a score.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.registry import register_backend

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def image_data_url(png: bytes) -> str:
    """A PNG as a base64 `data:` URL, the form OpenAI-compatible servers accept for inline images."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def chat_messages(request: JudgeRequest) -> list[dict[str, Any]]:
    """OpenAI chat messages of a request: a system turn and a user turn holding the text then the frames."""
    if request.images:
        content: Any = [{"type": "text", "text": request.user}] + [
            {"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in request.images
        ]
    else:
        content = request.user
    return [{"role": "system", "content": request.system}, {"role": "user", "content": content}]


def run_sync(coro):
    """Run a coroutine to completion from sync code, also when an event loop is already running here
    (e.g. inside a Prefect task): then it runs on a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class OpenAIJudgeBackend:
    """Chat-completions client with bounded concurrency, per-request timeout and retries with backoff."""

    name = "openai"

    def __init__(self, config: RewardsConfig, *, base_url: str | None = None, max_concurrency: int | None = None):
        self.config = config
        self.settings = config.openai
        self.base_url = (base_url or self.settings.base_url).rstrip("/")
        self.max_concurrency = max_concurrency or self.settings.max_concurrency
        self.api_key = os.environ.get(self.settings.api_key_env, "EMPTY")

    def _payload(self, request: JudgeRequest) -> dict[str, Any]:
        return {
            "model": request.model,
            "messages": chat_messages(request),
            "temperature": self.config.models.temperature,
            "max_tokens": self.config.models.max_tokens,
        }

    async def _one(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, request: JudgeRequest) -> JudgeResponse:
        s = self.settings
        busy = 0.0  # time spent in requests, excluding queueing for the semaphore and backoff sleeps
        error = "not attempted"
        attempt = 0
        for attempt in range(1, s.max_retries + 2):
            async with sem:
                start = time.perf_counter()
                try:
                    resp = await client.post(
                        f"{self.base_url}/chat/completions", json=self._payload(request), timeout=s.timeout_s
                    )
                    if resp.status_code == 200:
                        raw = _content_of(resp)
                        if raw is not None:
                            return JudgeResponse(
                                raw=raw, latency_s=busy + time.perf_counter() - start, attempts=attempt
                            )
                        error = f"malformed completion body: {resp.text[:200]!r}"
                        retry = False
                    else:
                        error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                        retry = resp.status_code in _RETRY_STATUS
                except httpx.TimeoutException:
                    error, retry = f"timeout after {s.timeout_s:g}s", True
                except httpx.TransportError as exc:
                    error, retry = f"connection error: {type(exc).__name__}: {exc}", True
                busy += time.perf_counter() - start
            if not retry or attempt > s.max_retries:
                break
            await asyncio.sleep(min(s.backoff_s * 2 ** (attempt - 1), s.backoff_max_s))
        return JudgeResponse(raw=None, latency_s=busy, error=error, attempts=attempt)

    async def complete_async(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Send every request concurrently (at most `max_concurrency` in flight); results in input order."""
        sem = asyncio.Semaphore(self.max_concurrency)
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(limits=limits, headers=headers, trust_env=False) as client:
            return list(await asyncio.gather(*(self._one(client, sem, r) for r in requests)))

    def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        """Sync facade of `complete_async`."""
        if not requests:
            return []
        return run_sync(self.complete_async(requests))


def _content_of(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


@register_backend("openai")
def _make(config: RewardsConfig) -> OpenAIJudgeBackend:
    return OpenAIJudgeBackend(config)
