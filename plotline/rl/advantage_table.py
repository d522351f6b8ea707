"""Turn a step's `scores` rows and plans into hierarchical advantages (the advantage stage's core)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from plotline.rewards.aggregate import judge_reward, kind_weights
from plotline.rewards.config import RewardWeights
from plotline.rl.advantage_config import AdvantageConfig
from plotline.rl.advantages import exec_rewards, group_advantages, plan_rewards
from plotline.rl.self_paced import self_paced_rewards

SCORE_ONLY_JUDGES = ("pickscore", "critic")
"""Judges whose rows carry their reward in `score` (not re-aggregated from fields with the reward weights)."""


def _judge_values(scores: pd.DataFrame, judge: str, key: str, weights: RewardWeights) -> pd.Series:
    """Per `key` (plan_id or rollout_id): the re-aggregated reward of `judge` with the configured weights
    (NaN when unscored); PickScore rows carry their normalised score."""
    rows = scores.loc[scores["judge"] == judge, [key, "status", "score", "fields_json"]]
    out = {}
    for row in rows.to_dict("records"):  # plain values, without a Series per row
        if row["status"] == "unscored":
            out[row[key]] = np.nan
        elif judge in SCORE_ONLY_JUDGES:
            out[row[key]] = float(row["score"])
        else:
            out[row[key]] = judge_reward(judge, json.loads(row["fields_json"]), kind_weights(judge, weights))
    return pd.Series(out, dtype=np.float64)


def _field(scores: pd.DataFrame, judge: str, field: str) -> pd.Series:
    rows = scores.loc[scores["judge"] == judge, ["rollout_id", "status", "fields_json"]]
    vals = {
        r["rollout_id"]: (
            json.loads(r["fields_json"]).get(field, np.nan) / 10.0 if r["status"] != "unscored" else np.nan
        )
        for r in rows.to_dict("records")
    }
    return pd.Series(vals, dtype=np.float64)


def compute_advantages(
    plans: pd.DataFrame,
    scores: pd.DataFrame,
    weights: RewardWeights,
    config: AdvantageConfig,
    critic_weight: float = 0.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of the `advantages` artifact and the diagnostics summary.

    Executor: R_exec = w_s·R_step + w_a·R_aes (or the self-paced mix of its terms), plus w_c·R_critic when the
    scores hold `critic` rows (the reflection critic's verdicts, `reflect.critic_reward`), normalised over the N
    continuations of each plan. Planner: R_plan = w_j·R_judge + w_v·mean_n R_video − format penalty, normalised
    over the M plans of each instruction."""
    rollouts = scores[scores["rollout_id"].notna()][["rollout_id", "plan_id", "instruction_id"]].drop_duplicates(
        "rollout_id"
    )
    rid = rollouts["rollout_id"].tolist()
    r_step = _judge_values(scores, "step", "rollout_id", weights).reindex(rid)
    r_aes = _judge_values(scores, "pickscore", "rollout_id", weights).reindex(rid)
    r_video = _judge_values(scores, "temporal", "rollout_id", weights).reindex(rid)
    has_critic = bool((scores["judge"] == "critic").any())
    r_critic = _judge_values(scores, "critic", "rollout_id", weights).reindex(rid)
    sp = config.self_paced
    sp_weights: dict = {}
    if sp.enabled:
        terms_by_name = {
            "aesthetic": r_aes,
            "step": r_step,
            "video": r_video,
            "consistency": _field(scores, "temporal", "visual_consistency_score").reindex(rid),
            "physical": _field(scores, "temporal", "physical_plausibility_score").reindex(rid),
            "critic": r_critic,
        }
        unknown = [t for t in sp.terms if t not in terms_by_name]
        if unknown:
            raise ValueError(f"unknown self-paced terms {unknown}; choose from {sorted(terms_by_name)}")
        matrix = np.column_stack([terms_by_name[t].to_numpy() for t in sp.terms])
        r_exec, sp_weights = self_paced_rewards(matrix, rollouts["plan_id"].tolist(), sp.thresholds, sp.alpha, sp.beta)
    else:
        w = weights.exec
        r_exec = exec_rewards(r_step.to_numpy(), r_aes.to_numpy(), w.step, w.aesthetic)
        if has_critic:
            r_exec = r_exec + critic_weight * r_critic.to_numpy()
    ex = group_advantages(r_exec, rollouts["plan_id"].tolist(), config, what="continuations")

    pid = plans["plan_id"].tolist()
    r_judge = _judge_values(scores, "plan", "plan_id", weights).reindex(pid).to_numpy()
    wp = weights.plan
    r_plan = plan_rewards(
        r_judge,
        plans["format_reward"].to_numpy(),
        pid,
        rollouts["plan_id"].tolist(),
        r_video.to_numpy(),
        wp.judge,
        wp.video,
        config.format_penalty,
    )
    pl = group_advantages(r_plan, plans["instruction_id"].tolist(), config, what="plans")

    def rows(role, ids, groups, instr, plan_ids, rewards_, res, weights_of):
        return pd.DataFrame(
            {
                "sample_id": ids,
                "role": role,
                "group_id": groups,
                "instruction_id": instr,
                "plan_id": plan_ids,
                "reward": [None if not np.isfinite(v) else float(v) for v in rewards_],
                "advantage": [None if not np.isfinite(v) else float(v) for v in res.advantages],
                "keep": res.keep.tolist(),
                "status": ["scored" if np.isfinite(v) else "unscored" for v in rewards_],
                "zero_variance": res.zero_variance.tolist(),
                "self_paced_weights": [list(map(float, weights_of(g))) for g in groups],
            }
        )

    table = pd.concat(
        [
            rows(
                "planner",
                pid,
                plans["instruction_id"].tolist(),
                plans["instruction_id"].tolist(),
                pid,
                r_plan,
                pl,
                lambda g: [],
            ),
            rows(
                "executor",
                rid,
                rollouts["plan_id"].tolist(),
                rollouts["instruction_id"].tolist(),
                rollouts["plan_id"].tolist(),
                r_exec,
                ex,
                lambda g: sp_weights.get(g, []),
            ),
        ],
        ignore_index=True,
    )
    summary = {
        "planner": pl.diagnostics,
        "executor": ex.diagnostics,
        "unscored_by_judge": {
            j: int(((scores["judge"] == j) & (scores["status"] == "unscored")).sum())
            for j in ("plan", "temporal", "step", "pickscore", "critic")
        },
    }
    if has_critic:
        finite = r_critic.to_numpy()[np.isfinite(r_critic.to_numpy())]
        summary["critic_reward"] = {
            "weight": critic_weight,
            "mean": float(finite.mean()) if finite.size else None,
            "scored": int(finite.size),
            "of": len(rid),
        }
    if sp_weights:
        summary["self_paced_weights_mean"] = dict(zip(sp.terms, np.mean(list(sp_weights.values()), axis=0).tolist()))
    return table, summary
