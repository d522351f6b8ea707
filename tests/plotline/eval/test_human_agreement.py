"""A/B export (randomised sides, key kept apart), importing annotator choices (bad rows with line numbers), and
judge–human agreement with the ±0.03 tie band."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from plotline.eval.human import (
    HumanDataError,
    agreement,
    export_pairs,
    human_preferences,
    judge_preference,
    read_choices,
    read_key,
)

SCORES = {
    "p0": (0.80, 0.50),
    "p1": (0.51, 0.50),
    "p2": (0.30, 0.70),
    "p3": (0.60, 0.58),
    "p4": (0.90, 0.10),
    "p5": (0.40, 0.41),
}
"""prompt → (score of A, score of B) under judge `world`."""


def _tables():
    videos, results = [], []
    for cond, k in (("A", 0), ("B", 1)):
        for p, scores in SCORES.items():
            sid = f"{cond}/s/{p}"
            videos.append(
                {
                    "sample_id": sid,
                    "condition": cond,
                    "subset": "s",
                    "prompt_id": p,
                    "prompt": f"prompt {p}",
                    "video_path": f"videos/{cond}/{p}.mp4",
                }
            )
            results.append(
                {"sample_id": sid, "condition": cond, "judge": "world", "metric": "score", "value": scores[k]}
            )
            results.append(
                {"sample_id": sid, "condition": cond, "judge": "world", "metric": "final_score", "value": 0.0}
            )
    return pd.DataFrame(videos), pd.DataFrame(results)


def _export(tmp_path, seed=0):
    videos, _ = _tables()
    return export_pairs(
        videos, "A", "B", tmp_path / "annotate", tmp_path / "private" / "key.csv", lambda path: path.encode(), seed=seed
    )


def test_export_randomises_sides_and_keeps_the_key_apart(tmp_path):
    key = _export(tmp_path)
    assert len(key) == 6 and {k["left_condition"] for k in key} == {"A", "B"}  # both sides occur
    sheet = list(csv.DictReader(open(tmp_path / "annotate" / "pairs.csv")))
    assert [s["pair_id"] for s in sheet] == [k["pair_id"] for k in key]
    assert "condition" not in " ".join(sheet[0]) and all(s["choice"] == "" for s in sheet)
    for k in key:  # the copied files are the key's videos, named only by pair and side
        left = (tmp_path / "annotate" / "videos" / f"{k['pair_id']}-L.mp4").read_bytes().decode()
        assert left == f"videos/{k['left_condition']}/{k['prompt_id']}.mp4"
    assert "<video" in (tmp_path / "annotate" / "index.html").read_text()
    assert read_key(tmp_path / "private" / "key.csv") == key
    assert [k["left_condition"] for k in _export(tmp_path / "again", seed=0)] == [k["left_condition"] for k in key]
    videos, _ = _tables()
    with pytest.raises(HumanDataError, match="outside the annotator folder"):
        export_pairs(videos, "A", "B", tmp_path / "ann", tmp_path / "ann" / "key.csv", lambda p: b"")


def _choices_file(tmp_path, key, human: dict[str, str], extra: str = "") -> str:
    """Write annotator choices: human[prompt] is the preferred condition (or tie), translated to left/right."""
    by_prompt = {k["prompt_id"]: k for k in key}
    lines = ["pair_id,choice,annotator"]
    for p, pref in human.items():
        k = by_prompt[p]
        side = "tie" if pref == "tie" else ("left" if k["left_condition"] == pref else "right")
        lines.append(f"{k['pair_id']},{side},ann1")
    path = tmp_path / "choices.csv"
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def test_agreement_with_tie_band(tmp_path):
    key = _export(tmp_path)
    _, results = _tables()
    # judge (±0.03): p0 A, p1 tie, p2 B, p3 tie, p4 A, p5 tie
    human = {"p0": "A", "p1": "tie", "p2": "A", "p3": "B", "p4": "A", "p5": "tie"}
    choices = read_choices(_choices_file(tmp_path, key, human), key)
    prefs = human_preferences(choices, key)
    assert {next(k["prompt_id"] for k in key if k["pair_id"] == p): v for p, v in prefs.items()} == human
    [agr] = agreement(results, key, choices, tie_band=0.03)
    assert agr.judge == "world" and agr.pairs == 6 and agr.unscored == 0
    assert agr.agreement == pytest.approx(4 / 6)  # p0, p1, p4, p5 agree
    assert agr.decisive_pairs == 3 and agr.decisive_agreement == pytest.approx(2 / 3)  # p0, p2, p4
    assert -1 <= agr.kappa <= 1
    [strict] = agreement(results, key, choices, tie_band=0.0)  # no band: p1, p3 A; p5 B
    assert strict.agreement == pytest.approx(2 / 6)
    assert judge_preference(0.5, 0.52, "A", "B", 0.03) == "tie" and judge_preference(None, 1, "A", "B", 0) is None


def test_bad_choices_are_reported_with_line_numbers(tmp_path):
    key = _export(tmp_path)
    p0 = next(k["pair_id"] for k in key if k["prompt_id"] == "p0")
    path = _choices_file(
        tmp_path,
        key,
        {"p0": "A"},
        extra=f"pair-9999,left,ann1\n{key[1]['pair_id']},maybe,ann1\n{key[2]['pair_id']},,ann1\n{p0},right,ann1\n",
    )
    with pytest.raises(HumanDataError) as exc:
        read_choices(path, key)
    msg = str(exc.value)
    assert "line 3: unknown pair 'pair-9999'" in msg and "line 4: choice 'maybe'" in msg
    assert "line 6: ann1 already chose" in msg and "line 5" not in msg  # an empty choice is just not done yet
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(f'{{"pair_id": "{key[0]["pair_id"]}", "choice": "B"}}\nnot json\n')
    with pytest.raises(HumanDataError, match="line 2: not valid JSON"):
        read_choices(jsonl, key)


def test_majority_vote_and_split_votes(tmp_path):
    key = _export(tmp_path)
    k = key[0]
    votes = [
        {"pair_id": k["pair_id"], "annotator": a, "choice": c}
        for a, c in (("x", "left"), ("y", "left"), ("z", "right"))
    ]
    assert human_preferences(votes, key)[k["pair_id"]] == k["left_condition"]
    split = votes[:1] + votes[2:]
    assert human_preferences(split, key)[k["pair_id"]] == "tie"
