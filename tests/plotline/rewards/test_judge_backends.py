"""Judge backends: a real OpenAI-compatible server on loopback, and servers that are down, slow or broken.
None of them may crash the scorer or turn into a silent 0."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from plotline.net import free_port
from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import encode_png
from plotline.rewards.judges import JudgeRequest, create_backend
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.prompts import plan_judge_prompt, step_judge_prompt
from tests.scripted_openai import ScriptedChat

STEP_REPLY = (
    '{"subject_score": 8, "scene_score": 7, "action_score": 6, '
    '"object_appearance_reasonability_score": 9, "final_score": 7}'
)


def _config(url: str, **openai) -> RewardsConfig:
    settings = {"base_url": url, "max_retries": 1, "backoff_s": 0.01, "timeout_s": 5.0, **openai}
    return RewardsConfig.model_validate(
        {"judge_backend": "openai", "openai": settings, "models": {"max_tokens": 24, "temperature": 1.0}}
    )


def _plan_request(model: str, i: int = 0) -> JudgeRequest:
    system, user = plan_judge_prompt(
        f"a red square moves right, then turns blue ({i})",
        ["A red square sits on the left.", "The square slides right and turns blue."],
    )
    return JudgeRequest("plan", model, system, user)


def _step_request(model: str) -> JudgeRequest:
    frames = tuple(encode_png(np.full((8, 8, 3), c, np.uint8)) for c in (0, 128, 255))
    system, user = step_judge_prompt("The square turns blue.", "A red square slides right.", len(frames))
    return JudgeRequest("step", model, system, user, images=frames)


class _Misbehaving:
    """Chat replies per `mode`: 'ok', 'flaky' (503 on the first call), 'error' (always 503), 'not_json' (an HTML
    body), 'garbage_content' (prose instead of JSON)."""

    def __init__(self):
        self.mode, self.calls = "ok", 0
        self.lock = threading.Lock()

    def __call__(self, body):
        with self.lock:
            self.calls += 1
            call = self.calls
        if self.mode == "flaky" and call == 1 or self.mode == "error":
            return 503, b"overloaded"
        if self.mode == "not_json":
            return 200, b"<html>proxy error</html>"
        return "I refuse to grade this." if self.mode == "garbage_content" else STEP_REPLY


@pytest.fixture
def stub_server():
    """A misbehaving OpenAI-style endpoint; set `handler.mode` per test."""
    handler = _Misbehaving()
    with ScriptedChat(handler) as server:
        yield server.url, handler


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


@pytest.mark.parametrize(
    "mode,reason",
    [("not_json", "malformed completion body"), ("error", "HTTP 503"), ("garbage_content", "no JSON object")],
)
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
        ok, broken, missing = scorer.score(
            [_step_request("world"), _plan_request("world"), JudgeRequest("temporal", "world", "s", "u", n_frames=4)]
        )
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
