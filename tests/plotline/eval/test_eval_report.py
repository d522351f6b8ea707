"""Report numbers on hand-made results: TF score and sub-scores per judge/subset, relative changes, paired
wins/ties/losses, categories, judge failures, throughput, and the rendered Markdown/HTML/PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_contracts import validate
from data_contracts.registry import get_kind
from plotline.eval.judging import JUDGE_METRICS
from plotline.eval.report import build_report, relative_change


def _results(seed: int = 0) -> pd.DataFrame:
    """Two conditions × two subsets × 4 prompts; `trained` is better by 0.2 on `hard`; the `ood` judge fails
    on one video; an image_stats aesthetic score."""
    rng = np.random.default_rng(seed)
    rows = []
    for cond, mode, ckpt in (("bootstrap", "planner_smooth", "base"), ("trained", "planner_smooth", "step=3")):
        for subset in ("simple", "hard"):
            for i in range(4):
                base = 0.4 + 0.05 * i
                value = base + (0.2 if (cond == "trained" and subset == "hard") else 0.0)
                sid = f"{cond}/{subset}/p{i}"
                meta = {
                    "sample_id": sid,
                    "condition": cond,
                    "prompt_id": f"p{i}",
                    "subset": subset,
                    "category": "person" if i < 2 else "object",
                    "mode": mode,
                    "checkpoint": ckpt,
                }
                for judge in ("world", "ood"):
                    failed = judge == "ood" and cond == "trained" and subset == "simple" and i == 0
                    for metric in JUDGE_METRICS:
                        v = (
                            None
                            if failed
                            else float(np.clip(value + (0 if metric == "score" else rng.normal(0, 0.05)), 0, 1))
                        )
                        rows.append(
                            {
                                **meta,
                                "judge": judge,
                                "metric": metric,
                                "value": v,
                                "raw_value": None if v is None else (v if metric == "score" else 10 * v),
                                "status": "unscored" if failed else "ok",
                                "reason": "judge call failed after 1 attempt(s): timeout" if failed else None,
                            }
                        )
                rows.append(
                    {
                        **meta,
                        "judge": "image_stats",
                        "metric": "image_stats",
                        "value": 0.5,
                        "raw_value": 0.5,
                        "status": "ok",
                        "reason": None,
                    }
                )
    return pd.DataFrame(rows)


def test_results_fit_the_contract():
    table = pa.Table.from_pandas(_results(), schema=get_kind("eval_results").schema, preserve_index=False)
    assert validate("eval_results", table).success
    bad = _results()
    bad.loc[0, "value"] = 1.5
    report = validate(
        "eval_results", pa.Table.from_pandas(bad, schema=get_kind("eval_results").schema, preserve_index=False)
    )
    assert not report.success


def test_comparison_paired_categories_and_failures():
    throughput = pd.DataFrame(
        [
            {
                "condition": c,
                "subset": s,
                "mode": "planner_smooth",
                "checkpoint": "x",
                "videos": 4,
                "latent_frames": 48,
                "generation_s": 2.0,
                "planning_s": 0.5,
                "videos_per_s": 2.0,
                "latent_frames_per_s": 24.0,
                "batch_size": 4,
                "device": "cpu",
            }
            for c in ("bootstrap", "trained")
            for s in ("simple", "hard")
        ]
    )
    report = build_report(_results(), throughput=throughput, plots=False, judge_roles={"ood": "out_of_domain"})
    rows = {(r["condition"], r["subset"], r["judge"]): r for r in report.rows}
    hard = rows[("trained", "hard", "world")]
    assert hard["mean"] == pytest.approx(0.675) and hard["baseline"] == pytest.approx(0.475)
    assert hard["relative_change"] == pytest.approx(0.2 / 0.475)
    assert rows[("bootstrap", "hard", "world")]["relative_change"] is None
    assert rows[("trained", "simple", "world")]["relative_change"] == pytest.approx(0.0)
    assert rows[("trained", "all", "world")]["n"] == 8  # pooled subset
    assert rows[("trained", "simple", "ood")]["n"] == 3 and rows[("trained", "simple", "ood")]["unscored"] == 1
    assert rows[("trained", "hard", "image_stats")]["mean"] == pytest.approx(0.5)

    paired = {(r["condition"], r["subset"], r["judge"]): r for r in report.tables["paired"]}
    p = paired[("trained", "hard", "world")]
    assert (p["wins"], p["ties"], p["losses"]) == (4, 0, 0) and p["mean_delta"] == pytest.approx(0.2)
    assert p["ci_low"] <= 0.2 <= p["ci_high"]
    assert paired[("trained", "simple", "world")]["ties"] == 4

    cats = {(r["judge"], r["category"], r["condition"]): r for r in report.tables["categories"]}
    assert cats[("world", "object", "trained")]["relative_change"] > 0
    fails = {(r["judge"], r["condition"]): r for r in report.tables["failures"]}
    assert fails[("ood", "trained")]["unscored"] == 1 and "timeout" in fails[("ood", "trained")]["top_reasons"]

    md = report.markdown
    assert "| trained | planner_smooth | step=3 |" in md and "(+42.1%)" in md
    assert "hard · ood (out-of-domain)" in md and "## Throughput" in md and "## Judge failures" in md
    assert "<table>" in report.html and "Per category" in report.html


def test_plots_are_pngs_and_videos_are_linked():
    res = _results()
    videos = pd.DataFrame(
        [
            {
                "sample_id": sid,
                "condition": c,
                "subset": s,
                "prompt_id": p,
                "prompt": f"prompt {p}",
                "video_path": f"videos/{c}/{s}/{p}.mp4",
            }
            for sid, c, s, p in res[["sample_id", "condition", "subset", "prompt_id"]]
            .drop_duplicates()
            .itertuples(index=False)
        ]
    )
    report = build_report(res, videos=videos, plots=True, video_link=lambda p: "https://store/" + p)
    assert set(report.plots) == {"plots/tf_score.png", "plots/subscores.png", "plots/categories.png"}
    assert all(png.startswith(b"\x89PNG") for png in report.plots.values())
    assert "[trained](https://store/videos/trained/hard/p0.mp4)" in report.markdown
    assert '<a href="https://store/videos/bootstrap/simple/p0.mp4">' in report.html


def test_relative_change_edge_cases():
    assert relative_change(0.6, 0.5) == pytest.approx(0.2)
    assert relative_change(None, 0.5) is None and relative_change(0.5, 0.0) is None
    with pytest.raises(ValueError, match="baseline"):
        build_report(_results(), baseline="nope", plots=False)
