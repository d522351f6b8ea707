"""The advantage stage's core: scores + plans -> hierarchical advantages that satisfy the contract."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import stages.advantage  # noqa: F401  (registers the stage)
from data_contracts import validate
from data_contracts.registry import get_kind
from plotline.rewards.config import RewardsConfig
from plotline.rl.advantage_config import AdvantageConfig
from plotline.rl.advantage_table import compute_advantages

PLAN = {"faithfulness_score": 1.0, "coverage_score": 1.0, "temporal_score": 1.0, "hallucination_score": 0.0}


def _step(final):
    return {
        "subject_score": final,
        "scene_score": final,
        "action_score": final,
        "object_appearance_reasonability_score": final,
        "final_score": final,
    }


def _temporal(final):
    return {
        "frame_scores": [final] * 4,
        "temporal_order_score": final,
        "physical_plausibility_score": final,
        "visual_consistency_score": final,
        "prompt_alignment_score": final,
        "final_score": final,
    }


def _row(judge, plan_id, rollout_id, fields=None, score=None, status="ok"):
    return {
        "judge": judge,
        "instruction_id": "i1",
        "plan_id": plan_id,
        "rollout_id": rollout_id,
        "status": status,
        "score": score,
        "fields_json": json.dumps(fields or {}),
    }


def _inputs():
    plans = pd.DataFrame({"plan_id": ["p1", "p2"], "instruction_id": ["i1", "i1"], "format_reward": [1.0, 0.5]})
    rows = [_row("plan", "p1", None, PLAN), _row("plan", "p2", None, PLAN)]
    # p1: step finals 10 and 0 (spread); p2: both 5 (zero variance) with one unscored temporal reply
    for rid, pid, final in (("r1", "p1", 10), ("r2", "p1", 0), ("r3", "p2", 5), ("r4", "p2", 5)):
        rows.append(_row("step", pid, rid, _step(final)))
        rows.append(_row("pickscore", pid, rid, score=0.5, fields={"pickscore": 0.5}))
        rows.append(
            _row("temporal", pid, rid, _temporal(final))
            if rid != "r4"
            else _row("temporal", pid, rid, status="unscored")
        )
    return plans, pd.DataFrame(rows)


def test_hierarchical_advantages_hand_computed():
    plans, scores = _inputs()
    table, summary = compute_advantages(plans, scores, RewardsConfig().weights, AdvantageConfig(clip=None))
    ex = table[table.role == "executor"].set_index("sample_id")
    # R_exec = .6*R_step + .4*.5: r1 .8, r2 .2 -> +-1; p2 group has zero variance -> 0
    np.testing.assert_allclose(ex.loc[["r1", "r2", "r3", "r4"], "advantage"], [1, -1, 0, 0], atol=1e-5)
    np.testing.assert_allclose(ex.loc[["r1", "r2"], "reward"], [0.8, 0.2])
    pl = table[table.role == "planner"].set_index("sample_id")
    # R_judge = .9 for both; R_video p1 = mean(1, 0) = .5, p2 = .5 (r4 unscored, skipped); p2 format penalty .5
    np.testing.assert_allclose(pl.loc[["p1", "p2"], "reward"], [0.15 * 0.9 + 0.85 * 0.5, 0.15 * 0.9 + 0.85 * 0.5 - 0.5])
    np.testing.assert_allclose(pl.loc[["p1", "p2"], "advantage"], [1, -1], atol=1e-5)
    assert summary["executor"]["frac_zero_variance_groups"] == pytest.approx(0.5)
    assert summary["unscored_by_judge"]["temporal"] == 1
    report = validate(
        "advantages", pa.Table.from_pylist(table.to_dict("records"), schema=get_kind("advantages").schema)
    )
    assert report.success, report


def test_unscored_step_dropped_and_self_paced_weights_recorded():
    plans, scores = _inputs()
    scores.loc[(scores.judge == "step") & (scores.rollout_id == "r2"), "status"] = "unscored"
    config = AdvantageConfig.model_validate(
        {"self_paced": {"enabled": True, "terms": ["aesthetic", "step"], "thresholds": [0.5, 0.5]}}
    )
    table, summary = compute_advantages(plans, scores, RewardsConfig().weights, config)
    ex = table[table.role == "executor"].set_index("sample_id")
    assert ex.loc["r2", "status"] == "unscored" and not ex.loc["r2", "keep"] and pd.isna(ex.loc["r2", "advantage"])
    assert len(ex.loc["r1", "self_paced_weights"]) == 2
    assert set(summary["self_paced_weights_mean"]) == {"aesthetic", "step"}


def test_judge_values_equal_the_row_by_row_reference():
    """The per-judge reward series read the rows' plain values: the same as the former iterrows loop."""
    from plotline.rewards.aggregate import judge_reward, kind_weights
    from plotline.rl.advantage_table import SCORE_ONLY_JUDGES, _field, _judge_values

    _, scores = _inputs()
    weights = RewardsConfig().weights
    for judge in ("step", "pickscore", "temporal"):
        reference = {}
        for _, row in scores[scores["judge"] == judge].iterrows():
            if row["status"] == "unscored":
                reference[row["rollout_id"]] = np.nan
            elif judge in SCORE_ONLY_JUDGES:
                reference[row["rollout_id"]] = float(row["score"])
            else:
                fields = json.loads(row["fields_json"])
                reference[row["rollout_id"]] = judge_reward(judge, fields, kind_weights(judge, weights))
        pd.testing.assert_series_equal(
            _judge_values(scores, judge, "rollout_id", weights), pd.Series(reference, dtype=np.float64)
        )
    consistency = _field(scores, "temporal", "visual_consistency_score")
    assert consistency.loc["r1"] == 1.0 and consistency.loc["r2"] == 0.0 and np.isnan(consistency.loc["r4"])
