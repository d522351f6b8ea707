"""The `openai` backend against a real `transformers serve` on loopback (tiny local model), and against small
scripted HTTP servers for timeouts, errors, retries and the adapter version in every request."""

import threading

import pyarrow as pa
import pytest

from data_contracts import get_kind, validate
from plotline.planner.backends import BackendContext, make_backend
from plotline.planner.backends.openai import ADAPTER_HEADER
from plotline.planner.config import PlannerConfig, PlannerOpenAIConfig
from plotline.planner.model import adapter_version, load_tokenizer
from plotline.planner.sampling import Instruction, sample_plans
from tests.scripted_openai import ScriptedChat

J = 2


@pytest.fixture(scope="module")
def served(tiny_planner_paths, tmp_path_factory):
    """`transformers serve <tiny base>` on a free loopback port (plotline.rewards.serve), healthy before use."""
    from plotline.rewards.serve import transformers_serve

    base = str(tiny_planner_paths[0])
    with transformers_serve(base, log_path=tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url, base


def _config(base_url, base, **openai):
    return PlannerConfig(
        backend="openai",
        base_model=base,
        num_plans=2,
        max_new_tokens=40,
        openai=PlannerOpenAIConfig(base_url=base_url, **openai),
    )


def test_samples_plans_from_transformers_serve(served):
    base_url, base = served
    tok = load_tokenizer(base)
    cfg = _config(base_url, base, max_retries=0, timeout_s=60)
    backend = make_backend("openai", BackendContext(cfg, tok, "base"))
    ins = [
        Instruction("a", "a red square moves right, then grows"),
        Instruction("b", "a blue circle jumps up, then grows"),
    ]
    records = sample_plans(backend, tok, ins, cfg, J, seed=3)
    assert [r.error for r in records] == [None] * 4, [r.error for r in records]
    assert all(r.backend == "openai" and r.adapter_version == "base" and r.completion_token_ids for r in records)
    assert sum(r.format_reward > 0 for r in records) >= 2, [r.raw_text for r in records]
    table = pa.Table.from_pylist([r.to_row() for r in records], schema=get_kind("plans").schema)
    assert validate("plans", table, {"M": 2}).success  # old_logprobs stay null until update_planner


class _Modes:
    """What the scripted server does with a chat request: 'ok', 'sleep' (answers only after the client gave up),
    '500', '400'."""

    def __init__(self):
        self.mode, self.late = "ok", threading.Event()

    def __call__(self, body):
        if self.mode == "sleep":
            self.late.wait(30)  # set when the test ends
            return 200, {}
        if self.mode in ("500", "400"):
            return int(self.mode), {"error": f"scripted {self.mode}"}
        return '["The square moves.", "The square grows."]'


@pytest.fixture
def scripted():
    modes = _Modes()
    with ScriptedChat(modes) as server:
        server.modes = modes
        yield server, server.url
        modes.late.set()


@pytest.mark.parametrize(
    "mode, retries, expect, calls",
    [
        ("sleep", 1, "timed out after 0.2 s", 2),
        ("500", 2, "HTTP 500", 3),
        ("400", 2, "HTTP 400", 1),  # a client error is not retried
    ],
)
def test_failures_are_retried_then_marked_failed_with_reason(
    scripted, tiny_planner_paths, mode, retries, expect, calls
):
    server, url = scripted
    server.modes.mode = mode
    base = str(tiny_planner_paths[0])
    tok = load_tokenizer(base)
    cfg = _config(url, base, timeout_s=0.2, max_retries=retries, backoff_s=0.01)
    cfg.num_plans = 1
    records = sample_plans(
        make_backend("openai", BackendContext(cfg, tok, "base")),
        tok,
        [Instruction("x", "a red square moves right, then grows")],
        cfg,
        J,
        seed=0,
    )
    (r,) = records
    assert r.parse_status == "failed" and r.format_reward == 0.0 and expect in r.error, r.error
    assert r.steps == ["a red square moves right, then grows"] * J and r.completion_token_ids == []
    assert len([s for s in server.calls if s[0].endswith("/chat/completions")]) == calls
    if retries and mode != "400":
        assert f"gave up after {calls} attempts" in r.error


def test_adapter_version_travels_with_every_request(scripted, tiny_planner_paths):
    server, url = scripted
    base, cold = map(str, tiny_planner_paths)
    tok = load_tokenizer(base)
    version = adapter_version(cold)
    cfg = _config(url, base)
    backend = make_backend("openai", BackendContext(cfg, tok, version, adapter_path=cold))
    reports: list[tuple[int, int | None]] = []
    records = sample_plans(
        backend,
        tok,
        [Instruction("x", "a red square moves right, then grows")],
        cfg,
        J,
        seed=0,
        progress=lambda done, total, loss=None: reports.append((done, total)),
    )
    assert all(r.adapter_version == version and r.error is None and r.parse_status == "ok" for r in records)
    assert reports == [(0, 2), (1, 2), (2, 2)]  # one report per answered plan
    assert [r.plan_index for r in records] == [0, 1]  # request order, whatever order the answers came in
    load = [s for s in server.calls if s[0].endswith("/load_lora_adapter")]
    assert load and load[0][2] == {"lora_name": f"plotline-planner-{version}", "lora_path": cold}
    chats = [s for s in server.calls if s[0].endswith("/chat/completions")]
    assert len(chats) == 2
    for _, headers, body in chats:
        assert body["model"] == f"plotline-planner-{version}"
        assert {k.lower(): v for k, v in headers.items()}[ADAPTER_HEADER.lower()] == version
        assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["top_p"] == 0.7


def test_server_answering_with_another_model_is_a_failure(scripted, tiny_planner_paths):
    server, url = scripted
    base = str(tiny_planner_paths[0])
    tok = load_tokenizer(base)
    cfg = _config(url, base, model="served-name")
    backend = make_backend("openai", BackendContext(cfg, tok, "base"))
    backend.model_name = "expected-name"  # the scripted server echoes the request's model, so fake a mismatch
    original = backend._body
    backend._body = lambda r: {**original(r), "model": "something-else"}
    (r, _) = sample_plans(backend, tok, [Instruction("x", "a red square moves right, then grows")], cfg, J, seed=0)
    assert r.parse_status == "failed" and "answered with model 'something-else'" in r.error
