"""Judge faults through the real score stage and a scripted OpenAI-compatible judge on loopback: garbage scores
are unscored (never clamped into reward), and a step whose judges mostly failed commits nothing."""

from __future__ import annotations

import pytest

from plotline.rewards.outage import JudgeOutage
from plotline.store import RunStore
from stages.base import run_stage
from tests.faults.conftest import all_kinds_reply, assert_run_valid


def _openai(cfg, url, **rewards):
    data = cfg.model_dump()
    data["rewards"].update({"judge_backend": "openai", **rewards})
    data["rewards"]["openai"].update({"base_url": url, "max_retries": 0, "timeout_s": 10.0, "max_concurrency": 1})
    return type(cfg).model_validate(data)


@pytest.mark.parametrize(
    "content,reason",
    [
        (all_kinds_reply(1000), "out of range: 1000 > 10"),
        (all_kinds_reply(1e12), "out of range: 1e+12 > 10"),
        (all_kinds_reply(-5), "out of range: -5 < 0"),
        ("The judge is down for maintenance.", "no JSON object"),
    ],
)
def test_garbage_or_outage_fails_the_score_stage(run_copy, judge_server, content, reason):
    cfg, run = run_copy
    url, script = judge_server
    script["reply"] = lambda call: content
    before = RunStore(run).versions("score", 0)
    with pytest.raises(JudgeOutage) as info:
        run_stage("score", _openai(cfg, url), run, 0, show_progress=False)
    text = str(info.value)
    assert "rewards.max_unscored_fraction=0.5" in text and reason in text and "unscored (100%)" in text
    assert RunStore(run).versions("score", 0) == before  # nothing committed
    assert len(script["server"].requests) > 0
    assert_run_valid(run)


def test_a_few_garbage_replies_are_unscored_with_the_reason_not_clamped(run_copy, judge_server):
    cfg, run = run_copy
    url, script = judge_server
    script["reply"] = lambda call: all_kinds_reply(1e12) if call % 4 == 0 else all_kinds_reply(7)
    out = run_stage("score", _openai(cfg, url, max_unscored_fraction=0.6), run, 0, show_progress=False)
    rows = out.artifact.read_table("scores.parquet").to_pylist()
    judged = [r for r in rows if r["judge"] in ("plan", "temporal", "step")]
    bad = [r for r in judged if r["status"] == "unscored"]
    assert bad and len(bad) == sum(1 for c in range(1, len(script["server"].requests) + 1) if c % 4 == 0)
    assert all(r["score"] is None and "out of range: 1e+12 > 10" in r["reason"] for r in bad)
    good = [r for r in judged if r["status"] != "unscored"]
    assert good and all(r["score"] == pytest.approx(0.7, abs=1e-6) or r["judge"] == "plan" for r in good)
    assert max(r["score"] for r in good) < 1.0  # 1e12 never became the maximum reward
    assert_run_valid(run)
