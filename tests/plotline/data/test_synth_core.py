"""Instruction synthesis without a server: reply parsing, per-candidate checks, duplicate detection, quotas,
split, and resume from the reply journal (canned replies through the same path a model's replies take)."""

from __future__ import annotations

import json

import pytest

from plotline.data.synth import (
    MemoryJournal,
    ReplyJournal,
    SynthesisShortfall,
    assign_splits,
    category_quotas,
    check_prompt_list,
    synthesize,
)
from plotline.data.synth_config import SynthConfig
from plotline.data.synth_offline import template_candidate, template_reply
from plotline.data.synth_validate import Candidate, ReplyError, check_candidate, parse_reply
from plotline.data.textsim import DuplicateIndex, normalise
from plotline.rewards.judges.base import JudgeResponse
from plotline.store.fs import StoreFS

CHEF = (
    "A chef in a white apron stands at a wooden cutting board. First, she places a ripe tomato on the board. "
    "Next, she slices the tomato into neat rounds with a sharp knife. Finally, she arranges the slices on a "
    "white plate."
)
CHEF_STEPS = [
    "she places a ripe tomato on the board",
    "she slices the tomato into neat rounds",
    "she arranges the slices on a white plate",
]


def test_parse_reply_tolerates_wrapping_and_reports_garbage():
    wrapped = '<think>let me see</think>Sure!\n```json\n{"instructions": [{"prompt": "p", "steps": ["a", "b"],}]}\n```'
    assert parse_reply(wrapped)[0].steps == ["a", "b"]
    assert parse_reply('Here: [{"prompt": "x y", "events": ["e"]}] done')[0].prompt == "x y"
    assert parse_reply('["just a prompt"]')[0].steps is None
    bad = parse_reply('{"instructions": [{"prompt": "p", "steps": "not a list"}, 7]}')
    assert bad[0].problems and bad[1].prompt is None
    for raw, why in [("", "empty"), ("no json here", "no JSON list"), ('{"instructions": []}', "empty")]:
        with pytest.raises(ReplyError, match=why):
            parse_reply(raw)


def test_candidate_checks_name_every_problem():
    rules = SynthConfig().validation
    assert check_candidate(Candidate(CHEF, CHEF_STEPS), 3, rules, 1, 4) == []
    assert "steps are not in the prompt's order" in check_candidate(Candidate(CHEF, CHEF_STEPS[::-1]), 3, rules, 1, 4)
    assert any("3 steps, 2 requested" in p for p in check_candidate(Candidate(CHEF, CHEF_STEPS), 2, rules, 1, 4))
    assert any(
        "not described" in p
        for p in check_candidate(Candidate(CHEF, CHEF_STEPS[:2] + ["a dragon flies over the moon"]), 3, rules, 1, 4)
    )
    unmarked = CHEF.replace("First, ", "").replace("Next, ", "").replace("Finally, ", "")
    assert any("temporal marker" in p for p in check_candidate(Candidate(unmarked, CHEF_STEPS), 3, rules, 1, 4))
    short = check_candidate(Candidate("A dog barks.", ["a dog barks"]), 1, rules, 1, 4)
    assert any("words (min 12)" in p for p in short)
    assert check_candidate(Candidate(CHEF, None), 3, rules, 1, 4) == ["no steps listed"]
    assert any("banned" in p for p in check_candidate(Candidate(CHEF, CHEF_STEPS), 3, rules, 1, 4, ["Ripe Tomato"]))


def test_duplicate_index_exact_near_and_distinct():
    index = DuplicateIndex(threshold=0.6)
    index.add("a", CHEF)
    assert index.find(CHEF.upper().replace(",", "")).kind == "exact"
    near = index.find(CHEF.replace("wooden", "bamboo"))
    assert near.kind == "near" and near.key == "a" and 0.6 <= near.similarity < 1
    assert index.find("A small bird sits on a branch, then flies away over the quiet lake at dawn.") is None
    assert normalise("  Hello,   World! ") == "hello world"


def test_duplicate_index_scales_to_thousands_and_minhash_is_unbiased():
    from plotline.data.textsim import jaccard, shingles

    index = DuplicateIndex(threshold=0.6)
    prompts = [template_candidate(i, 0, 3, f"theme {i}")["prompt"] for i in range(2000)]
    for i, p in enumerate(prompts):
        index.add(str(i), p)
    assert len(index) == 2000 and index.find(prompts[7]).key == "7"
    near = [p.replace("close to", "next to") for p in prompts[:200]]
    assert all(index.find(q).key == str(i) for i, q in enumerate(near))  # none lost among 2000 entries
    errors = [
        (index.signature(shingles(a)) == index.signature(shingles(b))).mean() - jaccard(shingles(a), shingles(b))
        for a, b in zip(prompts[:200], near)
    ]
    assert abs(sum(errors) / len(errors)) < 0.05  # signature agreement estimates the Jaccard similarity


class CannedBackend:
    """Template replies with planted faults; counts requests; optionally dies after some calls."""

    name = "canned"

    def __init__(self, faults=None, die_after_calls=None):
        self.faults, self.die_after_calls, self.calls, self.requests = faults or {}, die_after_calls, 0, []

    def reply(self, req) -> str:
        i, n, theme = req.meta["index"], req.meta["num_steps"], req.meta["theme"]
        fault = self.faults.get(i)
        if fault == "prose":
            return "I would rather describe a sunset in words."
        items = json.loads(template_reply(i, n, theme, 3).split("\n", 1)[1].rsplit("\n", 1)[0])["instructions"]
        if fault == "copy0":  # an exact duplicate of request 0's first candidate (case and commas changed)
            items[0] = dict(self.first, prompt=self.first["prompt"].upper().replace(",", ""))
            items[0]["steps"] = self.first["steps"] if len(self.first["steps"]) == n else items[0]["steps"]
        if fault == "near0":
            items[0] = dict(self.first, prompt=self.first["prompt"].replace("close to", "next to"))
        if fault == "reverse" and n >= 2:
            items[0]["steps"] = items[0]["steps"][::-1]
        if i == 0:
            self.first = items[0]
        return json.dumps({"instructions": items})

    def complete(self, requests):
        self.calls += 1
        if self.die_after_calls is not None and self.calls > self.die_after_calls:
            raise KeyboardInterrupt("killed")
        self.requests += [r.meta["index"] for r in requests]
        return [
            JudgeResponse(self.reply(r), 0.0)
            if self.faults.get(r.meta["index"]) != "down"
            else JudgeResponse(None, 0.0, error="connection refused")
            for r in requests
        ]


def _cfg(**kw) -> SynthConfig:
    base = dict(
        num_instructions=12,
        per_request=3,
        batch_size=2,
        eval_fraction=0.25,
        backend="programmatic",
        min_steps=1,
        max_steps=3,
    )
    return SynthConfig.model_validate({**base, **kw})


def test_selection_quotas_faults_and_split():
    faults = {1: "copy0", 2: "near0", 3: "prose", 4: "reverse", 5: "down"}
    result = synthesize(_cfg(), CannedBackend(faults))
    rows = {r["candidate_id"]: r for r in result.candidates}
    assert len(result.instructions) == 12 and result.summary["per_category"] == category_quotas(_cfg())
    assert "duplicate of" in rows["r000001-c00"]["reason"] and rows["r000001-c00"]["duplicate_of"]
    assert "near-duplicate" in rows["r000002-c00"]["reason"]
    assert rows["r000003-c00"]["status"] == "unparsed" and rows["r000005-c00"]["status"] == "failed"
    if rows["r000004-c00"]["requested_steps"] >= 2:
        assert "order" in rows["r000004-c00"]["reason"]
    assert result.summary["requests_failed"] == 1
    splits = [r["split"] for r in result.instructions]
    assert splits.count("eval") == 4  # round(0.25 × 3) per category
    ids = [r["instruction_id"] for r in result.instructions]
    assert len(set(ids)) == 12 and all(r["steps"] for r in result.instructions)
    accepted = [r for r in result.candidates if r["status"] == "accepted"]
    assert [r["instruction_id"] for r in accepted] == ids and all(r["split"] for r in accepted)
    assert assign_splits(result.instructions, 0.25, 0) == {r["instruction_id"]: r["split"] for r in result.instructions}


def test_shortfall_names_rejections_and_partial_commit_is_opt_in():
    dead = CannedBackend({i: "prose" for i in range(100)})
    with pytest.raises(SynthesisShortfall, match=r"accepted 0 of 12 .*no JSON list"):
        synthesize(_cfg(max_requests=4), dead)
    few = synthesize(_cfg(max_requests=2, allow_partial=True), CannedBackend())
    assert 0 < len(few.instructions) < 12


def test_killed_run_resumes_from_the_journal_and_selects_the_same(tmp_path):
    fs = StoreFS(str(tmp_path))
    faults = {1: "copy0", 3: "prose", 5: "down"}
    reference = synthesize(_cfg(), CannedBackend(faults))

    journal = ReplyJournal(fs, "run/_journal/k")
    with pytest.raises(KeyboardInterrupt):
        synthesize(_cfg(), CannedBackend(faults, die_after_calls=2), journal)
    assert sorted(ReplyJournal(fs, "run/_journal/k").load()) == [0, 1, 2, 3]  # two batches of two got through

    again = CannedBackend(faults)
    resumed = synthesize(_cfg(), again, ReplyJournal(fs, "run/_journal/k"))
    assert min(again.requests) == 4  # requests 0-3 were replayed, not re-sent
    assert resumed.summary["requests_replayed"] == 4 and resumed.instructions == reference.instructions

    # a torn file and a foreign entry are ignored, never trusted
    fs.write_bytes("run/_journal/k/batch-9999999-deadbeef.json", b'{"entries": [')
    assert len(ReplyJournal(fs, "run/_journal/k").load()) >= 4
    third = CannedBackend(faults)
    assert synthesize(_cfg(), third, ReplyJournal(fs, "run/_journal/k")).instructions == reference.instructions
    assert third.requests == [5]  # only the request that failed before is asked again


def test_memory_journal_and_check_prompt_list():
    journal = MemoryJournal()
    synthesize(_cfg(num_instructions=4), CannedBackend(), journal)
    assert journal.load()
    cfg = _cfg()
    cfg.validation.require_steps = False
    out = check_prompt_list(
        [{"id": "a", "prompt": CHEF}, {"id": "b", "prompt": CHEF.lower()}, {"id": "c", "prompt": "Too short."}], cfg
    )
    assert [r["status"] for r in out] == ["accepted", "rejected", "rejected"] and out[1]["duplicate_of"] == "a"
