"""Why one sample got its reward: the chain from instruction to advantage, joined from committed tables.

A sample is a plan (`<instruction>#m<i>`, planner role) or a continuation (`<plan>/c<n>`, executor role); a
score id such as `step:<rollout>` names the same sample. The chain is instruction → plan (raw text, parsed and
smoothed steps) → rollout (switch frame, span prompts, adapter versions) → every judge reply of the sample
(verbatim raw text, parse status, reason, native fields, normalised sub-scores, weights, aggregate) → reward
(recomputed here from the judges' fields with the weights, next to the stored value) → group (members' rewards,
mean, std) → advantage (and the self-paced weights when the curriculum is on).

The recomputation is an independent formulation of DESIGN §2/§5: R_plan = w_j·R_judge + w_v·mean_n R_video −
λ·(1 − format), R_exec = w_s·R_step + w_a·R_aes (+ w_c·R_critic), or Σ_j w_j·r_j under the self-paced weights.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa

from plotline.audit.lineage import StepLineage
from plotline.rewards.aggregate import kind_weights
from plotline.rewards.config import RewardsConfig
from plotline.rewards.schemas import KINDS
from plotline.rl.advantage_config import AdvantageConfig
from plotline.store import RunStore

SCORE_PREFIXES = ("plan", "temporal", "step", "pickscore", "critic")
"""Judge names that prefix score ids (`step:<rollout id>`); stripped to find the sample."""

EXEC_JUDGES = ("temporal", "step", "pickscore", "critic")
"""Judges of a continuation, in the order the chain shows them."""


def sample_key(sample_id: str) -> str:
    """The plan or rollout id a sample id names (score ids `judge:<id>` are reduced to `<id>`)."""
    head, sep, rest = sample_id.partition(":")
    return rest if sep and head in SCORE_PREFIXES else sample_id


def _rows(table: pa.Table, column: str, value: str) -> list[dict[str, Any]]:
    return [r for r in table.to_pylist() if r.get(column) == value]


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def judge_entry(row: dict[str, Any], rewards: RewardsConfig) -> dict[str, Any]:
    """One judge reply of the chain: verbatim raw text, status, reason, native fields, the normalised sub-scores
    (native / scale; the frame list as its mean), the weights and Σ w_k·norm_k (judges with a reply schema)."""
    fields = json.loads(row["fields_json"]) if row.get("fields_json") else {}
    entry = {
        "judge": row["judge"],
        "model": row["model"],
        "status": row["status"],
        "reason": row.get("reason"),
        "raw": row.get("raw"),
        "fields": {k: v for k, v in fields.items() if k != "think"},
        "think": fields.get("think"),
        "normalised": {},
        "weights": {},
        "aggregate": None,
        "stored_score": _finite(row.get("score")),
    }
    kind = KINDS.get(row["judge"])
    if kind is None or row["status"] == "unscored":
        if row["status"] != "unscored":
            entry["aggregate"] = entry["stored_score"]
        return entry
    weights = kind_weights(kind.name, rewards.weights)
    normalised = {}
    for key in weights:
        value = fields.get(key)
        if value is None:
            continue
        normalised[key] = (
            float(np.mean([kind.normalise(v) for v in value])) if key == kind.frame_key else kind.normalise(value)
        )
    entry["normalised"], entry["weights"] = normalised, dict(weights)
    entry["aggregate"] = sum(weights[k] * normalised[k] for k in weights) if len(normalised) == len(weights) else None
    return entry


def _group(adv: list[dict[str, Any]], row: dict[str, Any], config: AdvantageConfig) -> dict[str, Any]:
    members = [r for r in adv if r["role"] == row["role"] and r["group_id"] == row["group_id"]]
    scored = np.array([r["reward"] for r in members if _finite(r["reward"]) is not None], dtype=np.float64)
    if config.std_mode == "batch":
        pool = np.array([r["reward"] for r in adv if r["role"] == row["role"] and _finite(r["reward"]) is not None])
    else:
        pool = scored
    mean = float(scored.mean()) if scored.size else None
    std = float(np.std(pool, ddof=config.std_ddof)) if pool.size > config.std_ddof else None
    return {
        "group_id": row["group_id"],
        "role": row["role"],
        "std_mode": config.std_mode,
        "members": [
            {
                "sample_id": r["sample_id"],
                "reward": _finite(r["reward"]),
                "advantage": _finite(r["advantage"]),
                "keep": r["keep"],
            }
            for r in members
        ],
        "scored": int(scored.size),
        "mean": mean,
        "std": std,
    }


def _expected_advantage(
    reward: float | None, group: dict[str, Any], zero_variance: bool, config: AdvantageConfig
) -> float | None:
    """clip((r − mean) / (std + eps)), 0 in a zero-variance group (DESIGN §2 advantage)."""
    if reward is None or group["mean"] is None:
        return None
    if zero_variance:
        return 0.0
    value = (reward - group["mean"]) / ((group["std"] or 0.0) + config.eps)
    return float(np.clip(value, -config.clip, config.clip)) if config.clip is not None else value


def _exec_terms(judges: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    agg = {name: judges[name]["aggregate"] if name in judges else None for name in EXEC_JUDGES}
    temporal = judges.get("temporal", {}).get("normalised", {})
    return {
        "aesthetic": agg["pickscore"],
        "step": agg["step"],
        "video": agg["temporal"],
        "critic": agg["critic"],
        "consistency": temporal.get("visual_consistency_score"),
        "physical": temporal.get("physical_plausibility_score"),
    }


def _exec_reward(
    judges: dict[str, dict[str, Any]],
    weights_sp: list[float],
    rewards: RewardsConfig,
    config: AdvantageConfig,
    critic_weight: float,
) -> dict[str, Any]:
    terms = _exec_terms(judges)
    if config.self_paced.enabled:
        names, weights = list(config.self_paced.terms), dict(zip(config.self_paced.terms, weights_sp))
        formula = "Σ_j w_j·r_j (self-paced weights of the group)"
    else:
        names = ["step", "aesthetic"] + (["critic"] if "critic" in judges else [])
        weights = {"step": rewards.weights.exec.step, "aesthetic": rewards.weights.exec.aesthetic}
        if "critic" in judges:
            weights["critic"] = critic_weight
        formula = "w_s·R_step + w_a·R_aes" + (" + w_c·R_critic" if "critic" in judges else "")
    used = {n: terms.get(n) for n in names}
    complete = all(v is not None for v in used.values()) and len(weights) == len(names)
    value = sum(weights[n] * used[n] for n in names) if complete else None
    return {"formula": formula, "terms": used, "weights": weights, "recomputed": value}


def _plan_reward(
    plan: dict[str, Any],
    judges: dict[str, dict[str, Any]],
    videos: list[float | None],
    rewards: RewardsConfig,
    config: AdvantageConfig,
) -> dict[str, Any]:
    r_judge = judges.get("plan", {}).get("aggregate")
    finite = [v for v in videos if v is not None]
    mean_video = float(np.mean(finite)) if finite else None
    w = rewards.weights.plan
    penalty = config.format_penalty * (1.0 - float(plan["format_reward"]))
    value = (
        (w.judge * r_judge + w.video * mean_video - penalty) if r_judge is not None and mean_video is not None else None
    )
    return {
        "formula": "w_j·R_judge + w_v·mean_n R_video − λ·(1 − format)",
        "terms": {
            "R_judge": r_judge,
            "mean_R_video": mean_video,
            "R_video": videos,
            "format_reward": float(plan["format_reward"]),
            "format_penalty": penalty,
        },
        "weights": {"judge": w.judge, "video": w.video, "format_penalty": config.format_penalty},
        "recomputed": value,
    }


def sample_chain(
    store: RunStore,
    step: int,
    sample_id: str,
    rewards: RewardsConfig,
    advantage: AdvantageConfig,
    critic_weight: float = 0.0,
    head_version: int | None = None,
) -> dict[str, Any]:
    """The full chain of one sample at `step` (plain data; see the module docstring), following the lineage of
    the head stage's newest committed version (or `head_version`)."""
    lineage = StepLineage(store, step, head_version)
    key = sample_key(sample_id)
    plans_art = lineage.get("plan")
    if plans_art is None:
        raise LookupError(f"the chain of step {step} reaches no plan stage (head {lineage.head})")
    plans = plans_art.read_table("plans.parquet")
    rollout: dict[str, Any] | None = None
    rollouts_art = lineage.get("rollout")
    rollouts = rollouts_art.read_table("rollouts.parquet") if rollouts_art else None
    found = _rows(plans, "plan_id", key)
    if found:
        role = "planner"
    else:
        hits = _rows(rollouts, "rollout_id", key) if rollouts is not None else []
        if not hits:
            known = plans.column("plan_id").to_pylist()[:3] + (
                rollouts.column("rollout_id").to_pylist()[:3] if rollouts is not None else []
            )
            raise LookupError(
                f"sample {sample_id!r} is neither a plan nor a continuation at step {step} of "
                f"{store.uri} (ids look like: {', '.join(known)})"
            )
        rollout, role = hits[0], "executor"
        found = _rows(plans, "plan_id", rollout["plan_id"])
    plan = found[0]
    out: dict[str, Any] = {
        "run": store.run_id,
        "step": step,
        "sample_id": key,
        "role": role,
        "lineage": [e.as_dict() for e in lineage.entries],
        "instruction": {"instruction_id": plan["instruction_id"], "text": plan["prompt"]},
        "plan": {
            k: plan.get(k)
            for k in (
                "plan_id",
                "parse_status",
                "format_reward",
                "raw_text",
                "steps",
                "smoothed_steps",
                "adapter_version",
                "backend",
                "finish_reason",
                "error",
            )
        },
        "rollout": None,
        "judges": [],
        "reward": None,
        "group": None,
        "advantage": None,
        "self_paced": None,
    }
    if rollout is not None:
        out["rollout"] = {
            k: rollout.get(k)
            for k in (
                "rollout_id",
                "continuation_index",
                "switch_step",
                "fork_frame",
                "transition_start",
                "transition_end",
                "step_prompt",
                "span_prompts",
                "span_starts",
                "executor_adapter_version",
                "planner_adapter_version",
                "video_path",
                "frames_path",
                "group_index",
                "seed",
            )
        }
    scores_art = lineage.get("score")
    judges: dict[str, dict[str, Any]] = {}
    videos: list[float | None] = []
    if scores_art is not None:
        scores = scores_art.read_table("scores.parquet").to_pylist()
        if role == "planner":
            mine = [r for r in scores if r["judge"] == "plan" and r["plan_id"] == key]
            videos = [
                judge_entry(r, rewards)["aggregate"] for r in scores if r["judge"] == "temporal" and r["plan_id"] == key
            ]
        else:
            mine = sorted(
                (r for r in scores if r.get("rollout_id") == key and r["judge"] in EXEC_JUDGES),
                key=lambda r: EXEC_JUDGES.index(r["judge"]),
            )
        for r in mine:
            entry = judge_entry(r, rewards)
            judges[r["judge"]] = entry
            out["judges"].append(entry)
    adv_art = lineage.get("advantage")
    if adv_art is None:
        return out
    adv = adv_art.read_table("advantages.parquet").to_pylist()
    row = next((r for r in adv if r["sample_id"] == key and r["role"] == role), None)
    if row is None:
        raise LookupError(f"{adv_art.uri} has no {role} row for {key!r}")
    sp_weights = list(row["self_paced_weights"] or [])
    reward = (
        _plan_reward(plan, judges, videos, rewards, advantage)
        if role == "planner"
        else _exec_reward(judges, sp_weights, rewards, advantage, critic_weight)
    )
    stored = _finite(row["reward"])
    reward["stored"] = stored
    reward["consistent"] = (stored is None and reward["recomputed"] is None) or (
        stored is not None
        and reward["recomputed"] is not None
        and abs(stored - reward["recomputed"]) <= 1e-9 + 1e-6 * abs(stored)
    )
    out["reward"] = reward
    group = _group(adv, row, advantage)
    out["group"] = group
    out["advantage"] = {
        "value": _finite(row["advantage"]),
        "keep": row["keep"],
        "status": row["status"],
        "zero_variance": row["zero_variance"],
        "expected": _expected_advantage(stored, group, row["zero_variance"], advantage) if row["keep"] else None,
    }
    if sp_weights:
        out["self_paced"] = {"terms": list(advantage.self_paced.terms), "weights": sp_weights}
    return out
