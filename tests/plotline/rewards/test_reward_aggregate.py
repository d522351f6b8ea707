"""Aggregations of DESIGN §5 against hand-computed values."""

import pytest

from plotline.rewards.aggregate import (
    exec_reward,
    judge_reward,
    kind_weights,
    normalised_judge_score,
    plan_reward,
    reward_bounds,
)
from plotline.rewards.config import RewardsConfig, RewardWeights


def test_r_judge_default_weights():
    fields = {"faithfulness_score": 0.9, "coverage_score": 0.8, "temporal_score": 1.0, "hallucination_score": 0.1}
    # 0.4*0.9 + 0.25*0.8 + 0.25*1.0 - 0.3*0.1
    assert judge_reward("plan", fields, kind_weights("plan")) == pytest.approx(0.78)
    assert normalised_judge_score("plan", fields, kind_weights("plan")) == pytest.approx((0.78 + 0.3) / 1.2)


def test_r_video_uses_mean_frame_score_normalised_from_0_10():
    fields = {
        "frame_scores": [6, 7, 8, 9],
        "final_score": 8,
        "temporal_order_score": 8,
        "physical_plausibility_score": 7,
        "visual_consistency_score": 9,
        "prompt_alignment_score": 6,
    }
    # 0.2*0.75 + 0.3*0.8 + 0.2*0.8 + 0.1*0.7 + 0.1*0.9 + 0.1*0.6
    assert judge_reward("temporal", fields, kind_weights("temporal")) == pytest.approx(0.77)
    assert normalised_judge_score("temporal", fields, kind_weights("temporal")) == pytest.approx(0.77)


def test_r_step_and_r_exec():
    fields = {
        "subject_score": 8,
        "scene_score": 7,
        "action_score": 6,
        "object_appearance_reasonability_score": 9,
        "final_score": 7,
    }
    r_step = judge_reward("step", fields, kind_weights("step"))
    assert r_step == pytest.approx(0.735)  # .12 + .105 + .12 + .18 + .21
    assert exec_reward(r_step, 0.5) == pytest.approx(0.641)
    assert plan_reward(0.78, 0.77) == pytest.approx(0.15 * 0.78 + 0.85 * 0.77)


def test_weights_are_configurable_and_bounds_follow_signs():
    cfg = RewardsConfig.model_validate(
        {
            "weights": {
                "step": {
                    "final_score": 1.0,
                    "subject_score": 0.0,
                    "scene_score": 0.0,
                    "action_score": 0.0,
                    "object_appearance_reasonability_score": 0.0,
                }
            }
        }
    )
    w = kind_weights("step", cfg.weights)
    fields = {
        "subject_score": 0,
        "scene_score": 0,
        "action_score": 0,
        "object_appearance_reasonability_score": 0,
        "final_score": 4,
    }
    assert judge_reward("step", fields, w) == pytest.approx(0.4)
    assert reward_bounds(kind_weights("plan", RewardWeights())) == pytest.approx((-0.3, 0.9))


def test_every_weight_field_is_documented():
    for section in (RewardsConfig, RewardWeights):
        for name, info in section.model_fields.items():
            assert info.description, f"{section.__name__}.{name} lacks a docstring"
