"""Judge backends: a real OpenAI-compatible server on loopback, and servers that are down, slow or broken.
None of them may crash the scorer or turn into a silent 0."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import encode_png
from plotline.rewards.judges import JudgeRequest, create_backend
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.prompts import plan_judge_prompt, step_judge_prompt
from plotline.testing.net import free_port
from tests.scripted_openai import ScriptedChat

STEP_REPLY = ('{"subject_score": 8, "scene_score": 7, "action_score": 6, '
              '"object_appearance_reasonability_score": 9, "final_score": 7}')


def _config(url: str, **openai) -> RewardsConfig:
    settings = {"base_url": url, "max_retries": 1, "backoff_s": 0.01, "timeout_s": 5.0, **openai}
    return RewardsConfig.model_validate({"judge_backend": "openai", "openai": settings,
                                         "models": {"max_tokens": 24, "temperature": 1.0}})


def _plan_request(model: str, i: int = 0) -> JudgeRequest:
    system, user = plan_judge_prompt(f"a red square moves right, then turns blue ({i})",
                                     ["A red square sits on the left.", "The square slides right and turns blue."])
    return JudgeRequest("plan", model, system, user)


def _step_request(model: str) -> JudgeRequest:
    frames = tuple(encode_png(np.full((8, 8, 3), c, np.uint8)) for c in (0, 128, 255))
    system, user = step_judge_prompt("The square turns blue.", "A red square slides right.", len(frames))
    return JudgeRequest("step", model, system, user, images=frames)


class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    delay = 0.0
    calls = 0
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        cls = type(self)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with cls.lock:
            cls.calls += 1
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            call = cls.calls
        time.sleep(cls.delay)
        with cls.lock:
            cls.in_flight -= 1
        if cls.mode == "flaky" and call == 1 or cls.mode == "error":
            return self._send(503, b"overloaded")
        if cls.mode == "not_json":
            return self._send(200, b"<html>proxy error</html>")
        content = "I refuse to grade this." if cls.mode == "garbage_content" else STEP_REPLY
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self._send(200, json.dumps(body).encode())

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def stub_server():
    """A misbehaving OpenAI-style endpoint; set `handler.mode` / `handler.delay` per test."""
    handler = type("Handler", (_Handler,), {"calls": 0, "in_flight": 0, "max_in_flight": 0,
                                            "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


# --- real server: transformers serve + tiny Qwen3 -------------------------------------------------------------

def test_real_server_text_and_image_requests_never_crash(tiny_server, tiny_qwen_dir):
    scorer = JudgeScorer(create_backend(_config(tiny_server)))
    requests = [_plan_request(tiny_qwen_dir, i) for i in range(3)] + [_step_request(tiny_qwen_dir)]
    outcomes = scorer.score(requests)
    assert len(outcomes) == 4
    for out in outcomes:
        assert out.response.ok, out.response.error  # the server answered (base64 PNGs included)
        assert isinstance(out.response.raw, str) and out.response.latency_s > 0
        # an untrained model writes noise: it must be unscored with a reason, never a 0
        if out.result.status == "unscored":
            assert out.result.score is None and out.result.reason
    # identical calls come from the cache, keyed by (model, prompt, frames hash)
    again = scorer.score(requests)
    assert all(o.response.cached for o in again)
    assert [o.response.raw for o in again] == [o.response.raw for o in outcomes]


def test_concurrent_requests_against_real_server(tiny_server, tiny_qwen_dir):
    backend = create_backend(_config(tiny_server, max_concurrency=4))
    responses = backend.complete([_plan_request(tiny_qwen_dir, i) for i in range(8)])
    assert all(r.ok for r in responses)


# --- failure modes -------------------------------------------------------------------------------------------

def test_server_down_is_unscored_with_reason():
    scorer = JudgeScorer(create_backend(_config(f"http://127.0.0.1:{free_port()}/v1")))
    [out] = scorer.score([_plan_request("m")])
    assert out.result.status == "unscored" and out.result.score is None
    assert "connection error" in out.result.reason and "2 attempt" in out.result.reason
    assert len(scorer.cache) == 0  # failures are not cached


def test_slow_server_times_out_to_unscored():
    release = threading.Event()  # the server accepts the request and answers only after the client gave up
    with ScriptedChat(lambda body: STEP_REPLY, release=release) as server:
        scorer = JudgeScorer(create_backend(_config(server.url, timeout_s=0.2, max_retries=0)))
        [out] = scorer.score([_plan_request("m")])
        answered_late = not release.is_set()
        release.set()
    assert answered_late and len(server.requests) == 1
    assert out.result.status == "unscored" and "timeout" in out.result.reason


@pytest.mark.parametrize("mode,reason", [("not_json", "malformed completion body"),
                                         ("error", "HTTP 503"),
                                         ("garbage_content", "no JSON object")])
def test_garbage_is_unscored_with_reason(stub_server, mode, reason):
    url, handler = stub_server
    handler.mode = mode
    [out] = JudgeScorer(create_backend(_config(url))).score([_step_request("m")])
    assert out.result.status == "unscored" and out.result.score is None
    assert reason in out.result.reason


def test_retry_with_backoff_recovers(stub_server):
    url, handler = stub_server
    handler.mode = "flaky"
    [out] = JudgeScorer(create_backend(_config(url))).score([_step_request("m")])
    assert out.response.attempts == 2 and out.result.status == "ok"
    assert out.result.score == pytest.approx(0.735)


def test_concurrency_is_bounded():
    # each request is held until three are in flight at once: the bound is reached, and never passed
    with ScriptedChat(lambda body: STEP_REPLY, hold_until_in_flight=3) as server:
        backend = create_backend(_config(server.url, max_concurrency=3))
        requests = [JudgeRequest("step", "m", "s", f"u{i}") for i in range(9)]
        assert all(r.ok for r in backend.complete(requests))
    assert server.max_in_flight == 3 and len(server.requests) == 9


# --- other backends ------------------------------------------------------------------------------------------

def test_programmatic_backend_hook(monkeypatch):
    from plotline.rewards.judges import programmatic

    monkeypatch.setattr(programmatic, "_JUDGES", {})  # isolated from judges other tests (e.g. the world) registered
    register_programmatic_judge("step", lambda req: STEP_REPLY)
    register_programmatic_judge("plan", lambda req: 1 / 0)
    try:
        scorer = JudgeScorer(create_backend(RewardsConfig(judge_backend="programmatic")))
        ok, broken, missing = scorer.score([_step_request("world"), _plan_request("world"),
                                            JudgeRequest("temporal", "world", "s", "u", n_frames=4)])
        assert ok.result.status == "ok"
        assert broken.result.status == "unscored" and "ZeroDivisionError" in broken.result.reason
        assert missing.result.status == "unscored" and "no programmatic judge" in missing.result.reason
    finally:
        unregister_programmatic_judge("step")
        unregister_programmatic_judge("plan")


def test_local_backend_generates_in_process(tiny_qwen_dir):
    config = RewardsConfig.model_validate({"judge_backend": "local", "models": {"max_tokens": 16}})
    [out] = JudgeScorer(create_backend(config)).score([_plan_request(tiny_qwen_dir)])
    assert out.response.ok and isinstance(out.response.raw, str)
    assert out.result.status in ("ok", "repaired", "unscored")
    missing = create_backend(config).complete([_plan_request("/nonexistent/model")])[0]
    assert not missing.ok and missing.error


def test_unknown_backend_names_choices():
    with pytest.raises(ValueError, match="local, openai, programmatic"):
        create_backend(RewardsConfig(judge_backend="vllm"))
