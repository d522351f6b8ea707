"""A scripted OpenAI-compatible server on loopback for tests that assert on exact reply content: the one home of
the tests' fake chat endpoints (judges, planner, synthesis).

`ScriptedChat(reply)` answers POST …/chat/completions with `reply(body)` (a string, or (status, json or raw
bytes) to send an error or a broken body), answers any other POST (e.g. vLLM's /v1/load_lora_adapter) with `{"ok": true}`, records every request
(`calls`: path, headers, body; `requests`: the chat bodies), counts requests in flight, and can hold requests
until a condition holds, so concurrency and timeout tests wait for states instead of sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = str | tuple[int, dict | bytes]
"""A chat reply's content, or (HTTP status, JSON body or raw bytes) to answer something else."""


class ScriptedChat:
    """Context manager: a loopback chat-completions server whose replies come from `reply(request_body)`.

    hold_until_in_flight: requests wait until this many have been in flight at once (at most hold_timeout_s);
        once reached, later requests are answered at once;
    release: an Event; when given, every request waits for it (a server that accepts and does not answer).
    """

    def __init__(
        self,
        reply: Callable[[dict], Reply],
        *,
        finish_reason: str = "stop",
        hold_until_in_flight: int = 0,
        hold_timeout_s: float = 30.0,
        release: threading.Event | None = None,
    ):
        self.reply, self.finish_reason = reply, finish_reason
        self.hold_until_in_flight, self.hold_timeout_s, self.release = hold_until_in_flight, hold_timeout_s, release
        self.requests: list[dict] = []
        self.calls: list[tuple[str, dict, dict]] = []
        self.in_flight = self.max_in_flight = 0
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL (…/v1) of the running server."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handle(self, body: dict) -> tuple[int, dict]:
        with self._cond:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            if self.hold_until_in_flight:
                self._cond.wait_for(lambda: self.max_in_flight >= self.hold_until_in_flight, self.hold_timeout_s)
        try:
            if self.release is not None:
                self.release.wait(self.hold_timeout_s)
            out = self.reply(body)
        finally:
            with self._cond:
                self.in_flight -= 1
        if isinstance(out, tuple):
            return out
        return 200, {
            "id": f"scripted-{len(self.requests)}",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {"index": 0, "finish_reason": self.finish_reason, "message": {"role": "assistant", "content": out}}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def __enter__(self) -> ScriptedChat:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)) or 0)
                body = json.loads(raw or b"{}")
                owner.calls.append((self.path, dict(self.headers), body))
                code, payload = owner._handle(body) if self.path.endswith("/chat/completions") else (200, {"ok": True})
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self.release is not None:
            self.release.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
