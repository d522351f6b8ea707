"""The synthesize stage on a local store: the request/journal protocol against a real `transformers serve` on
loopback (a tiny Qwen3, whatever it replies), exact validation and deduplication against a scripted server, canned
replies, a killed run that resumes from its journal, and nothing committed on failure."""

from __future__ import annotations

import json
import re

import pytest
import torch

from plotline.config import load_config
from plotline.config import with_sections as extend
from plotline.data.synth import SYSTEM_PROMPT, Selection, SynthesisShortfall, plan_request
from plotline.data.synth_config import SynthConfig
from plotline.data.synth_offline import template_candidate, template_reply
from plotline.net import free_port
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.store import RunStore, StorageConfig
from stages.base import run_stage
from tests.scripted_openai import ScriptedChat

torch.set_num_threads(1)


def _config(tmp_path, **synth):
    cfg = load_config()
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    return extend(cfg, synth=SynthConfig.model_validate(synth))


def _committed(run: str, stage: str = "synthesize") -> int:
    return len(RunStore(run).versions(stage, 0))


# --- the protocol against a real server; exact content from a scripted one ---------------------------------
SERVED = dict(
    num_instructions=4,
    per_request=2,
    min_steps=2,
    max_steps=2,
    batch_size=2,
    max_requests=4,
    temperature=0.0,
    max_tokens=200,
    backend="openai",
    eval_fraction=0.0,
)
ANSWER = json.dumps({"instructions": [template_candidate(0, k, 2, "a park") for k in range(2)]})
"""One reply holding two valid candidates (A, B), given to every request by the scripted server."""


@pytest.fixture(scope="module")
def served_tiny_qwen(tmp_path_factory):
    """`transformers serve` on loopback with an untrained tiny Qwen3 whose tokenizer knows the synthesis prompts."""
    from plotline.rewards.serve import transformers_serve
    from plotline.tiny.lm import build_tiny_qwen3

    root = tmp_path_factory.mktemp("synth_llm")
    cfg = SynthConfig.model_validate({**SERVED, "model": "x"})
    selection = Selection(cfg)
    users = [plan_request(i, selection, cfg).request.user for i in range(cfg.request_budget)]
    path = build_tiny_qwen3(root / "model", corpus=[ANSWER, SYSTEM_PROMPT, *users], vocab_size=640)
    with transformers_serve(str(path), log_path=root / "serve.log") as url:
        yield url, str(path)


def _traffic(outcome) -> tuple[int, int, int]:
    """(sent now, replayed from the journal, failed) of a synthesis run, from its summary or its shortfall."""
    if isinstance(outcome, SynthesisShortfall):
        m = re.search(r"\((\d+) sent now, (\d+) replayed from the journal, (\d+) failed\)", str(outcome))
        assert m, str(outcome)
        return int(m[1]), int(m[2]), int(m[3])
    s = outcome.manifest.summary
    return s["requests_sent"], s["requests_replayed"], s["requests_failed"]


def _synthesise(cfg, run):
    try:
        return run_stage("synthesize", cfg, run, 0, show_progress=False)
    except SynthesisShortfall as exc:
        return exc


def test_real_server_every_reply_is_journaled_and_a_resume_sends_nothing(tmp_path, served_tiny_qwen):
    """What holds for any reply of a real OpenAI-compatible server (the tiny model's text is arbitrary): all
    requests of the budget reach it and succeed, every reply is journaled, and a resume against a dead server
    replays them all and reaches the same outcome without sending anything."""
    url, model = served_tiny_qwen
    run = str(tmp_path / "runs" / "synth-real")
    cfg = _config(
        tmp_path,
        **{**SERVED, "max_tokens": 24},
        model=model,
        allow_partial=True,
        openai={"base_url": url, "timeout_s": 60, "max_retries": 0},
    )
    first = _synthesise(cfg, run)
    assert _traffic(first) == (4, 0, 0)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = _config(
        tmp_path,
        **{**SERVED, "max_tokens": 24},
        model=model,
        allow_partial=True,
        openai={"base_url": dead, "timeout_s": 2, "max_retries": 0},
    )
    again = _synthesise(cfg, run)
    assert _traffic(again) == (0, 4, 0)
    assert type(again) is type(first)
    if isinstance(first, SynthesisShortfall):
        assert _committed(run) == 0 and str(first).split(" request(s)")[0] == str(again).split(" request(s)")[0]
    else:  # committed on the first run: the resume is the same stage with the same inputs
        assert again.status == "skipped"


def test_replies_are_validated_deduplicated_and_resumable(tmp_path):
    run = str(tmp_path / "runs" / "synth-scripted")
    with ScriptedChat(lambda body: ANSWER) as server:
        cfg = _config(
            tmp_path, **SERVED, model="tiny", openai={"base_url": server.url, "timeout_s": 60, "max_retries": 0}
        )
        # every reply holds candidates A, B; the quota is one per category, so request 0 accepts A and finds its
        # category full for B, request 1 (another category) accepts B, and every later candidate is an exact
        # duplicate: the target of 4 cannot be met within 4 requests
        with pytest.raises(SynthesisShortfall, match=r"accepted 2 of 4 .*4 sent now.*exact duplicate of <id> ×5"):
            run_stage("synthesize", cfg, run, 0, show_progress=False)
        assert len(server.requests) == 4
        assert all(b["model"] == "tiny" and b["messages"][0]["content"] == SYSTEM_PROMPT for b in server.requests)
    assert _committed(run) == 0  # nothing partial is committed

    # resume against a server that is gone: every reply comes from the journal, none is re-sent
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = _config(
        tmp_path,
        **SERVED,
        model="tiny",
        allow_partial=True,
        openai={"base_url": dead, "timeout_s": 2, "max_retries": 0},
    )
    out = run_stage("synthesize", cfg, run, 0, show_progress=False)
    summary = out.manifest.summary
    assert summary["requests_sent"] == 0 and summary["requests_replayed"] == 4 and summary["accepted"] == 2
    rows = out.artifact.read_table("instructions.parquet").to_pylist()
    assert [r["prompt"] for r in rows] == [c["prompt"] for c in json.loads(ANSWER)["instructions"]]
    assert all(len(r["steps"]) == 2 and r["source"] == "synth:tiny" for r in rows)
    cands = out.artifact.read_table("candidates.parquet").to_pylist()
    a, b = rows[0]["instruction_id"], rows[1]["instruction_id"]
    assert [c["status"] for c in cands] == ["accepted", "rejected", "rejected", "accepted"] + ["rejected"] * 4
    assert "is full" in cands[1]["reason"] and rows[0]["category"] != rows[1]["category"]
    assert [c["duplicate_of"] for c in cands] == [None, None, a, None, a, b, a, b]
    assert all(c["reason"].startswith("exact duplicate of ") for c in cands if c["duplicate_of"])


def test_cut_off_replies_are_unparsed_with_reasons(tmp_path):
    run = str(tmp_path / "runs" / "synth-garbage")
    with ScriptedChat(lambda body: ANSWER[:40], finish_reason="length") as server:
        cfg = _config(
            tmp_path,
            num_instructions=2,
            per_request=2,
            batch_size=2,
            max_requests=2,
            max_tokens=24,
            backend="openai",
            model="tiny",
            openai={"base_url": server.url, "max_retries": 0},
        )
        # a reply cut off mid-JSON: both replies are unparsed, with the reason, and nothing is committed
        with pytest.raises(
            SynthesisShortfall,
            match=r"accepted 0 of 2 instructions after 2 request\(s\) \(2 sent now"
            r".*reply: no JSON list of instructions in reply ×2",
        ):
            run_stage("synthesize", cfg, run, 0, show_progress=False)
    assert _committed(run) == 0


# --- canned replies through the programmatic backend; a killed run resumes ------------------------------------
CANNED = dict(
    num_instructions=8,
    per_request=3,
    batch_size=2,
    backend="programmatic",
    eval_fraction=0.25,
    min_steps=1,
    max_steps=3,
)


@pytest.fixture
def canned_synth():
    calls = {"n": 0, "die_at": None, "indices": []}

    def answer(req):
        calls["n"] += 1
        if calls["die_at"] is not None and calls["n"] >= calls["die_at"]:
            raise KeyboardInterrupt("killed mid-run")
        calls["indices"].append(req.meta["index"])
        if req.meta["index"] == 2:
            return "no JSON today"
        return template_reply(req.meta["index"], req.meta["num_steps"], req.meta["theme"], 3)

    register_programmatic_judge("synth", answer)
    yield calls
    unregister_programmatic_judge("synth")


def test_killed_stage_resumes_and_commits_the_same_selection(tmp_path, canned_synth, store_root):
    root, storage = store_root
    cfg = _config(tmp_path, **CANNED)
    cfg.storage = storage
    reference = run_stage("synthesize", cfg, f"{root}/ref", 0, show_progress=False)
    ref_rows = reference.artifact.read_table("instructions.parquet").to_pylist()
    assert len(ref_rows) == 8 and {r["split"] for r in ref_rows} == {"train", "eval"}

    run = f"{root}/killed"
    canned_synth.update(n=0, die_at=4, indices=[])
    with pytest.raises(KeyboardInterrupt):
        run_stage("synthesize", cfg, run, 0, show_progress=False)
    assert not RunStore(run, storage).versions("synthesize", 0) and canned_synth["indices"] == [0, 1, 2]
    assert RunStore(run, storage).garbage()  # the journal (and nothing committed) is left behind

    canned_synth.update(n=0, die_at=None, indices=[])
    out = run_stage("synthesize", cfg, run, 0, show_progress=False)
    assert 0 not in canned_synth["indices"] and 1 not in canned_synth["indices"]  # journaled batch not re-sent
    assert out.manifest.summary["requests_replayed"] == 2
    assert out.artifact.read_table("instructions.parquet").to_pylist() == ref_rows
    assert run_stage("synthesize", cfg, run, 0, show_progress=False).status == "skipped"


def test_templates_backend_runs_offline(tmp_path):
    cfg = _config(tmp_path, num_instructions=6, backend="templates", per_request=3)
    out = run_stage("synthesize", cfg, str(tmp_path / "runs" / "tpl"), 0, show_progress=False)
    assert out.manifest.summary["accepted"] == 6


def test_synthesised_instructions_feed_a_run_through_the_artifact_source(tmp_path):
    from plotline.data.sources import get_source

    cfg = _config(tmp_path, num_instructions=6, backend="templates", per_request=3, eval_fraction=0.34)
    out = run_stage("synthesize", cfg, str(tmp_path / "runs" / "syn"), 0, show_progress=False)
    reader = cfg.model_copy(
        update={"data": cfg.data.model_construct(source="artifact", path=out.artifact.uri, split="train")}
    )
    rows = get_source("artifact").read(reader.data, reader.storage)
    assert rows == out.artifact.read_table("instructions.parquet").to_pylist()
    assert {r["split"] for r in rows} == {"train", "eval"}
