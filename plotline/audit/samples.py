"""The per-step samples table: every planner and executor sample of a step joined with its plan, rollout, judge
scores, reward, group statistics and advantage (the UI's version of `plotline audit --sample`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from plotline.audit.chain import judge_entry
from plotline.audit.lineage import StepLineage
from plotline.rewards.config import RewardsConfig
from plotline.rl.advantage_config import AdvantageConfig


def _clip(text: Any, n: int = 200) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if not math.isfinite(value) else float(f"{value:.6g}")


def sample_rows(
    lineage: StepLineage,
    rewards: RewardsConfig,
    advantage: AdvantageConfig,
    link: Callable[[str], tuple[str, str] | None] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """One row per sample of the lineage's advantage table (planner rows first): instruction, plan parse status,
    steps, switch step, span prompts, adapter versions, each judge's status and aggregate, reward, group id,
    group mean/std over its scored members, advantage, keep, self-paced weights and picture links
    (`link(sample_id)` -> (filmstrip URL, GIF URL) or None)."""
    adv_art, plan_art = lineage.get("advantage"), lineage.get("plan")
    if adv_art is None or plan_art is None:
        return []
    adv = adv_art.read_table("advantages.parquet").to_pylist()
    plans = {p["plan_id"]: p for p in plan_art.read_table("plans.parquet").to_pylist()}
    roll_art, score_art = lineage.get("rollout"), lineage.get("score")
    rollouts = {r["rollout_id"]: r for r in roll_art.read_table("rollouts.parquet").to_pylist()} if roll_art else {}
    judged: dict[str, dict[str, dict[str, Any]]] = {}
    if score_art is not None:
        for r in score_art.read_table("scores.parquet").to_pylist():
            key = r["plan_id"] if r["judge"] == "plan" else r.get("rollout_id")
            if key:
                judged.setdefault(key, {})[r["judge"]] = judge_entry(r, rewards)
    stats: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for role in ("planner", "executor"):
        pool = np.array(
            [r["reward"] for r in adv if r["role"] == role and r["reward"] is not None and math.isfinite(r["reward"])],
            dtype=np.float64,
        )
        for gid in {r["group_id"] for r in adv if r["role"] == role}:
            vals = np.array(
                [
                    r["reward"]
                    for r in adv
                    if r["role"] == role
                    and r["group_id"] == gid
                    and r["reward"] is not None
                    and math.isfinite(r["reward"])
                ],
                dtype=np.float64,
            )
            spread = vals if advantage.std_mode == "group" else pool
            stats[(role, gid)] = (
                float(vals.mean()) if vals.size else None,
                float(np.std(spread, ddof=advantage.std_ddof)) if spread.size > advantage.std_ddof else None,
            )
    out = []
    for r in sorted(adv, key=lambda r: (r["role"] != "planner", r["sample_id"]))[:limit]:
        plan = plans.get(r["plan_id"], {})
        roll = rollouts.get(r["sample_id"], {}) if r["role"] == "executor" else {}
        judges = judged.get(r["sample_id"], {})
        mean, std = stats[(r["role"], r["group_id"])]
        row = {
            "sample_id": r["sample_id"],
            "role": r["role"],
            "instruction": _clip(plan.get("prompt"), 120),
            "parse_status": plan.get("parse_status"),
            "plan_steps": _clip(" | ".join(plan.get("steps") or [])),
            "switch_step": roll.get("switch_step"),
            "span_prompts": _clip(" | ".join(roll.get("span_prompts") or [])),
            "planner_adapter": plan.get("adapter_version"),
            "executor_adapter": roll.get("executor_adapter_version"),
        }
        for name in ("plan", "temporal", "step", "pickscore", "critic"):
            j = judges.get(name)
            row[f"{name}_status"] = j["status"] if j else ""
            row[f"{name}_score"] = _num(j["aggregate"]) if j else None
        row.update(
            {
                "reward": _num(r["reward"]),
                "group": r["group_id"],
                "group_mean": _num(mean),
                "group_std": _num(std),
                "advantage": _num(r["advantage"]),
                "keep": r["keep"],
                "self_paced_weights": json.dumps([round(w, 4) for w in r["self_paced_weights"] or []]),
                **{k: v for k, v in zip(("filmstrip", "gif"), (link(r["sample_id"]) if link else None) or ("", ""))},
            }
        )
        out.append(row)
    return out
