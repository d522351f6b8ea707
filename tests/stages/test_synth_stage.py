"""The synthesize stage on a local store: a real `transformers serve` on loopback with a tiny Qwen3, canned
replies, a killed run that resumes from its journal, and nothing committed on failure."""
from __future__ import annotations

import json

import pytest
import torch

from plotline.config import load_config
from plotline.data.synth import Selection, SynthesisShortfall, plan_request, SYSTEM_PROMPT
from plotline.data.synth_config import SynthConfig
from plotline.data.synth_offline import template_candidate, template_reply
from plotline.eval.sections import extend
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.store import RunStore, StorageConfig
from plotline.testing.net import free_port
from stages.base import run_stage

torch.set_num_threads(1)


def _config(tmp_path, **synth):
    cfg = load_config()
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    return extend(cfg, synth=SynthConfig.model_validate(synth))


def _committed(run: str, stage: str = "synthesize") -> int:
    return len(RunStore(run).versions(stage, 0))


# --- a tiny Qwen3 taught one answer, served by `transformers serve` --------------------------------------------
SERVED = dict(num_instructions=4, per_request=2, min_steps=2, max_steps=2, batch_size=2, max_requests=4,
              temperature=0.0, max_tokens=200, backend="openai", eval_fraction=0.0)


def _memorising_model(path, cfg: SynthConfig) -> tuple[str, str]:
    """A tiny Qwen3 fine-tuned to answer the first synthesis requests of `cfg` with one fixed reply
    (two valid candidates), so greedy decoding through the server returns parseable, repeated replies."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from plotline.testing.tiny_lm import build_tiny_qwen3
    from plotline.testing.tiny_planner import sft

    answer = json.dumps({"instructions": [template_candidate(0, k, 2, "a park") for k in range(2)]})
    selection = Selection(cfg)
    users = [plan_request(i, selection, cfg).request.user for i in range(cfg.request_budget)]
    build_tiny_qwen3(path, corpus=[answer, SYSTEM_PROMPT, *users], vocab_size=640)
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    completion = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    pairs = []
    for user in users:
        prompt = tok.apply_chat_template([{"role": "system", "content": SYSTEM_PROMPT},
                                          {"role": "user", "content": user}], add_generation_prompt=True,
                                         tokenize=True)
        pairs.append((list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt), completion))
    sft(model, tok, pairs, steps=60, lr=1.5e-2, batch_size=4)
    model.save_pretrained(path)
    return str(path), answer


@pytest.fixture(scope="module")
def served_synth_model(tmp_path_factory):
    from plotline.rewards.serve import transformers_serve

    root = tmp_path_factory.mktemp("synth_llm")
    path, answer = _memorising_model(root / "model", SynthConfig.model_validate({**SERVED, "model": "x"}))
    with transformers_serve(path, log_path=root / "serve.log") as url:
        yield url, path, answer


def test_real_server_replies_are_validated_deduplicated_and_resumable(tmp_path, served_synth_model):
    url, model, answer = served_synth_model
    run = str(tmp_path / "runs" / "synth-real")
    cfg = _config(tmp_path, **SERVED, model=model, openai={"base_url": url, "timeout_s": 60, "max_retries": 0})
    # the served model repeats one reply (candidates A, B); the quota is one per category, so request 0 accepts A
    # and finds its category full for B, request 1 (another category) accepts B, and every later candidate is an
    # exact duplicate: the target of 4 cannot be met within 4 requests
    with pytest.raises(SynthesisShortfall, match=r"accepted 2 of 4 .*4 sent now.*exact duplicate of <id> ×5"):
        run_stage("synthesize", cfg, run, 0, show_progress=False)
    assert _committed(run) == 0  # nothing partial is committed

    # resume against a server that is gone: every reply comes from the journal, none is re-sent
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = _config(tmp_path, **SERVED, model=model, allow_partial=True,
                  openai={"base_url": dead, "timeout_s": 2, "max_retries": 0})
    out = run_stage("synthesize", cfg, run, 0, show_progress=False)
    summary = out.manifest.summary
    assert summary["requests_sent"] == 0 and summary["requests_replayed"] == 4 and summary["accepted"] == 2
    rows = out.artifact.read_table("instructions.parquet").to_pylist()
    assert [r["prompt"] for r in rows] == [c["prompt"] for c in json.loads(answer)["instructions"]]
    assert all(len(r["steps"]) == 2 and r["source"] == f"synth:{model}" for r in rows)
    cands = out.artifact.read_table("candidates.parquet").to_pylist()
    a, b = rows[0]["instruction_id"], rows[1]["instruction_id"]
    assert [c["status"] for c in cands] == ["accepted", "rejected", "rejected", "accepted"] + ["rejected"] * 4
    assert "is full" in cands[1]["reason"] and rows[0]["category"] != rows[1]["category"]
    assert [c["duplicate_of"] for c in cands] == [None, None, a, None, a, b, a, b]
    assert all(c["reason"].startswith("exact duplicate of ") for c in cands if c["duplicate_of"])


def test_cut_off_replies_are_unparsed_with_reasons(tmp_path, served_synth_model):
    url, model, _ = served_synth_model
    run = str(tmp_path / "runs" / "synth-garbage")
    cfg = _config(tmp_path, num_instructions=2, per_request=2, batch_size=2, max_requests=2, max_tokens=24,
                  backend="openai", model=model, openai={"base_url": url, "max_retries": 0})
    # 24 tokens cut the JSON off: both replies are unparsed, with the reason, and nothing is committed
    with pytest.raises(SynthesisShortfall, match=r"accepted 0 of 2 instructions after 2 request\(s\) \(2 sent now"
                                                 r".*reply: no JSON list of instructions in reply ×2"):
        run_stage("synthesize", cfg, run, 0, show_progress=False)
    assert _committed(run) == 0


# --- canned replies through the programmatic backend; a killed run resumes ------------------------------------
CANNED = dict(num_instructions=8, per_request=3, batch_size=2, backend="programmatic", eval_fraction=0.25,
              min_steps=1, max_steps=3)


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
    reader = cfg.model_copy(update={"data": cfg.data.model_construct(source="artifact", path=out.artifact.uri,
                                                                     split="train")})
    rows = get_source("artifact")(reader)
    assert rows == out.artifact.read_table("instructions.parquet").to_pylist()
    assert {r["split"] for r in rows} == {"train", "eval"}
