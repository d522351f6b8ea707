"""The score stage's outage check: per-judge unscored shares against rewards.max_unscored_fraction."""

import pytest

from plotline.rewards.outage import JudgeOutage, check_unscored, unscored_shares


def _rows(judge, statuses, reason="timeout"):
    return [{"judge": judge, "status": s, "reason": reason if s == "unscored" else None} for s in statuses]


def test_shares_are_counted_per_judge():
    rows = _rows("plan", ["ok", "unscored", "repaired", "unscored"]) + _rows("step", ["ok"] * 3 + ["unscored"])
    shares = unscored_shares(rows + _rows("pickscore", ["unscored"] * 4), ["plan", "step"])
    assert {j: (b, t) for j, (b, t, _) in shares.items()} == {"plan": (2, 4), "step": (1, 4)}  # pickscore not judged


def test_at_the_threshold_passes_above_it_fails_with_reasons():
    half = _rows("plan", ["ok", "unscored"] * 2)  # exactly 0.5
    check_unscored(half, ["plan"], 0.5, "score step 0")
    rows = (
        _rows("temporal", ["unscored"] * 3, "out of range: 1000 > 10")
        + _rows("temporal", ["unscored"], "HTTP 503")
        + _rows("temporal", ["ok"])
    )
    with pytest.raises(JudgeOutage) as info:
        check_unscored(half + rows, ["plan", "temporal"], 0.5, "score step 3")
    text = str(info.value)
    assert text.startswith("score step 3: unscored share above rewards.max_unscored_fraction=0.5")
    assert "temporal judge: 4 of 5 replies unscored (80%)" in text and "3x out of range: 1000 > 10" in text
    assert "1x HTTP 503" in text and "plan judge" not in text
    check_unscored(half + rows, ["plan", "temporal"], 1.0, "score step 3")  # 1.0 disables the check
