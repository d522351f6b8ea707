"""Reward aggregations of DESIGN §5 (TempAct App. B) with configurable weights.

Every judge score is first normalised to [0, 1] by its kind's scale (plan 0–1, video judges 0–10).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from plotline.rewards.config import RewardWeights
from plotline.rewards.schemas import JudgeKind, get_kind

# judge kind -> attribute of RewardWeights holding its weights
_KIND_WEIGHTS = {"plan": "plan_judge", "temporal": "video", "step": "step"}


def kind_weights(kind: str, weights: RewardWeights | None = None) -> dict[str, float]:
    """The weight per reply key of one judge kind (defaults: DESIGN §5)."""
    weights = weights or RewardWeights()
    return getattr(weights, _KIND_WEIGHTS[get_kind(kind).name]).model_dump()


def judge_reward(kind: str | JudgeKind, fields: Mapping, weights: Mapping[str, float]) -> float:
    """Σ_k w_k·norm(score_k) of one parsed reply: R_judge (plan), R_video (temporal) or R_step (step).
    The frame list contributes the mean of its normalised scores (R_video's 0.2·mean(frame) term)."""
    kind = kind if isinstance(kind, JudgeKind) else get_kind(kind)
    total = 0.0
    for key, w in weights.items():
        if key == kind.frame_key:
            value = float(np.mean([kind.normalise(v) for v in fields[key]]))
        else:
            value = kind.normalise(fields[key])
        total += w * value
    return total


def reward_bounds(weights: Mapping[str, float]) -> tuple[float, float]:
    """Attainable (min, max) of a linear aggregate of [0, 1] terms: negative weights set the min."""
    lo = sum(min(w, 0.0) for w in weights.values())
    hi = sum(max(w, 0.0) for w in weights.values())
    return lo, hi


def normalised_judge_score(kind: str | JudgeKind, fields: Mapping, weights: Mapping[str, float]) -> float:
    """The judge reward rescaled to [0, 1] by its attainable range (identity when the weights are
    non-negative and sum to 1, as for R_video and R_step; (R_judge + 0.3) / 1.2 for the default plan judge)."""
    lo, hi = reward_bounds(weights)
    if hi <= lo:
        raise ValueError(f"weights {dict(weights)} give an empty reward range")
    return (judge_reward(kind, fields, weights) - lo) / (hi - lo)


def plan_reward(r_judge: float, mean_r_video: float, judge_w: float = 0.15, video_w: float = 0.85) -> float:
    """R_plan = w_j·R_judge + w_v·mean_n R_video (DESIGN §2; format penalty is applied by the advantage step)."""
    return judge_w * r_judge + video_w * mean_r_video


def exec_reward(r_step: float, r_aes: float, step_w: float = 0.6, aes_w: float = 0.4) -> float:
    """R_exec = w_s·R_step + w_a·R_aes (DESIGN §2)."""
    return step_w * r_step + aes_w * r_aes
