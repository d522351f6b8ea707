"""The parser on a corpus of realistic judge replies (tests/plotline/rewards/data/replies.jsonl)."""

import json
import math
from pathlib import Path

import pytest

from plotline.rewards.jsonextract import strip_thinking, to_strict_json
from plotline.rewards.parsing import coerce_score, parse_reply

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "replies.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus(case):
    result = parse_reply(case["kind"], case["raw"], n_frames=case.get("n_frames"))
    assert result.status == case["status"], result.reason
    if "reason" in case:
        assert case["reason"] in (result.reason or ""), result.reason
    for key, value in case.get("fields", {}).items():
        assert result.fields[key] == pytest.approx(value)
    if "score" in case:
        assert result.score == pytest.approx(case["score"])
    if result.status == "unscored":
        assert result.score is None and result.reason  # never a silent 0
    else:
        assert 0.0 <= result.score <= 1.0
        assert (result.status == "repaired") == bool(result.repairs)


def test_corpus_covers_every_status_and_kind():
    seen = {(c["kind"], c["status"]) for c in CORPUS}
    for kind in ("plan", "temporal", "step"):
        for status in ("ok", "repaired", "unscored"):
            assert (kind, status) in seen


def test_coerce_score_forms():
    assert coerce_score(7, 10) == (7.0, None)
    assert coerce_score("7.5", 10) == (7.5, "score as string")
    assert coerce_score("8/10", 10)[0] == 8.0
    assert coerce_score("8/10", 1.0)[0] == pytest.approx(0.8)
    assert coerce_score("4 out of 5", 10)[0] == 8.0
    assert coerce_score("80%", 10)[0] == 8.0
    assert coerce_score({"score": 6}, 10)[0] == 6.0
    for bad in (None, True, "n/a", float("nan"), [1, 2]):
        with pytest.raises(ValueError):
            coerce_score(bad, 10)


def test_strip_thinking_variants():
    assert strip_thinking("<think>a</think>\nB") == "B"
    assert strip_thinking("reasoning only\n</think>\nB") == "B"
    assert strip_thinking("B <think>unfinished") == "B"


def test_to_strict_json_keeps_quotes_inside_strings():
    text, fixes = to_strict_json("{'a': 'say \"hi\"', 'b': 'it\\'s',}")
    assert json.loads(text) == {"a": 'say "hi"', "b": "it's"}
    assert fixes == ["single quotes", "trailing comma"]


def test_weights_change_score_but_not_fields():
    raw = '{"faithfulness_score": 1, "coverage_score": 0, "temporal_score": 0, "hallucination_score": 0}'
    default = parse_reply("plan", raw)
    custom = parse_reply(
        "plan",
        raw,
        weights={"faithfulness_score": 1.0, "coverage_score": 0.0, "temporal_score": 0.0, "hallucination_score": 0.0},
    )
    assert default.fields == custom.fields
    assert default.score == pytest.approx((0.4 + 0.3) / 1.2)
    assert custom.score == pytest.approx(1.0)
    assert not math.isnan(default.score)
