"""`openai` backend: an OpenAI-compatible chat server (vLLM with the adapter hot-loaded, `transformers serve`).

The adapter version travels with every request: as the served model name `<prefix>-<version>` when an adapter
is used, and always in the `X-Plotline-Adapter-Version` header. Timeouts, connection errors, 429 and 5xx are
retried with exponential backoff up to `max_retries`; after that (or on any other error) the plan is returned
with `error` set to the reason.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import httpx

from plotline.planner.backends.base import BackendContext, PlanRequest, SampledPlan, register_backend
from plotline.planner.backends.shared_adapter import server_adapter_path
from plotline.planner.masks import ThinkTokens
from plotline.progress import Progress, no_progress

ADAPTER_HEADER = "X-Plotline-Adapter-Version"
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    pass


class OpenAISampler:
    """Samples plans from an OpenAI-compatible `/chat/completions` endpoint, one request per plan."""

    name = "openai"

    def __init__(self, context: BackendContext, client: httpx.Client | None = None):
        self.config = context.config
        self.settings = context.config.openai
        self.tokenizer = context.tokenizer
        self.adapter_version = context.adapter_version
        self.adapter_path = context.adapter_path
        self.think = ThinkTokens.from_tokenizer(self.tokenizer)
        self.base_url = self.settings.base_url.rstrip("/")
        self.model_name = self._model_name()
        key = os.environ.get(self.settings.api_key_env, "")
        headers = {ADAPTER_HEADER: self.adapter_version}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = client or httpx.Client(timeout=self.settings.timeout_s, headers=headers)
        self._adapter_loaded = False
        self.server_adapter_path = None
        if self.adapter_path is not None and self.settings.load_adapter:  # before any request is sent
            self.server_adapter_path = server_adapter_path(
                self.settings, self.adapter_path, self.model_name, context.adapter_private
            )

    def _model_name(self) -> str:
        if self.adapter_path is not None:
            return f"{self.settings.adapter_name_prefix}-{self.adapter_version}"
        name = self.settings.model or self.config.base_model
        if not name:
            raise ValueError(
                "openai planner backend: set planner.openai.model (or planner.base_model) to the served model name"
            )
        return name

    def ensure_adapter(self) -> None:
        """Hot-load the adapter on the server under the versioned name (vLLM `/v1/load_lora_adapter`); an
        already-loaded name is accepted. No-op without an adapter or when `load_adapter` is off."""
        if self._adapter_loaded or self.adapter_path is None or not self.settings.load_adapter:
            return
        path = self.server_adapter_path
        resp = self.client.post(
            f"{self.base_url}/load_lora_adapter", json={"lora_name": self.model_name, "lora_path": path}
        )
        if resp.status_code >= 400 and "already" not in resp.text.lower():
            raise RuntimeError(
                f"server at {self.base_url} refused to load adapter {path!r} as "
                f"{self.model_name!r}: HTTP {resp.status_code} {resp.text[:300]}"
            )
        self._adapter_loaded = True

    def _body(self, r: PlanRequest) -> dict:
        body = {
            "model": self.model_name,
            "messages": list(r.messages),
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "max_tokens": self.config.max_new_tokens,
            "seed": r.seed,
            "chat_template_kwargs": {"enable_thinking": self.config.enable_thinking},
        }
        if self.settings.return_token_ids:
            body["return_token_ids"] = True
        return body

    def _post_once(self, body: dict) -> dict:
        try:
            resp = self.client.post(f"{self.base_url}/chat/completions", json=body, timeout=self.settings.timeout_s)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.settings.timeout_s:g} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from exc
        if resp.status_code in _RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise RuntimeError(f"response is not JSON: {resp.text[:200]!r}") from exc

    def _post(self, body: dict) -> dict:
        attempts = self.settings.max_retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                return self._post_once(body)
            except _Retryable as exc:
                last = str(exc)
                if attempt + 1 < attempts:
                    time.sleep(self.settings.backoff_s * (2**attempt))
        raise RuntimeError(f"{last} (gave up after {attempts} attempts)")

    def _to_plan(self, r: PlanRequest, data: dict) -> SampledPlan:
        choice = (data.get("choices") or [None])[0]
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise RuntimeError(f"response has no choices[0].message: {str(data)[:200]}")
        answered = str(data.get("model", ""))
        if answered and not (answered == self.model_name or answered.startswith(self.model_name + "@")):
            raise RuntimeError(
                f"server answered with model {answered!r}, expected {self.model_name!r} "
                f"(adapter version {self.adapter_version})"
            )
        msg = choice["message"]
        content = msg.get("content") or ""
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        text = f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}" if reasoning else content
        finish = choice.get("finish_reason") or ""
        ids = choice.get("token_ids")
        if not ids:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if finish == "stop" and self.tokenizer.eos_token_id is not None:
                ids.append(int(self.tokenizer.eos_token_id))
        return SampledPlan(
            request=r,
            raw_text=text,
            completion_ids=[int(i) for i in ids],
            finish_reason=finish,
            adapter_version=self.adapter_version,
        )

    def _sample_one(self, r: PlanRequest) -> SampledPlan:
        try:
            return self._to_plan(r, self._post(self._body(r)))
        except Exception as exc:  # noqa: BLE001 - recorded on the plan, never raised: one bad request must not sink the step
            return SampledPlan(
                request=r,
                adapter_version=self.adapter_version,
                error=f"{self.base_url} model {self.model_name!r}: {exc}",
            )

    def sample(self, requests: list[PlanRequest], progress: Progress = no_progress) -> list[SampledPlan]:
        """One chat request per plan, `max_concurrency` in flight, reporting each answered plan; failed plans carry
        the reason in `error`. Plans come back in request order."""
        self.ensure_adapter()
        progress(0, len(requests))
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            futures = [pool.submit(self._sample_one, r) for r in requests]
            for done, _ in enumerate(as_completed(futures), start=1):
                progress(done, len(requests))
            return [f.result() for f in futures]


@register_backend("openai")
def make_openai(context: BackendContext) -> OpenAISampler:
    """Factory of the `openai` backend."""
    return OpenAISampler(context)
