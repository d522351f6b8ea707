"""Group-relative advantages (GRPO-style), hierarchical over plans and continuations (DESIGN §2, §5).

Unscored samples are NaN rewards. They never enter a group's mean or std; `unscored_policy` decides whether
they are dropped from the update (`drop`), kept with advantage 0 (`zero`) or abort the step (`fail`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from plotline.rl.advantage_config import AdvantageConfig


class UnscoredSampleError(RuntimeError):
    """Unscored samples were found while `unscored_policy` is `fail`."""


@dataclass
class GroupAdvantages:
    """Per-sample advantages (NaN where dropped), whether each sample enters the update, and diagnostics."""

    advantages: np.ndarray
    keep: np.ndarray
    group_mean: np.ndarray
    group_std: np.ndarray
    zero_variance: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _std(values: np.ndarray, ddof: int) -> float:
    return float(np.std(values, ddof=ddof)) if values.size > ddof else 0.0


def group_advantages(
    rewards: Sequence[float] | np.ndarray, groups: Sequence[Any], config: AdvantageConfig, what: str = "samples"
) -> GroupAdvantages:
    """A_i = clip((r_i − mean_g) / (std + eps)) with the mean over the scored members of i's group g and the
    std of the group (`std_mode=group`) or of every scored reward of the batch (`batch`). Zero-variance groups
    (std < eps, or one scored member) get advantage 0 or are dropped (`zero_variance_policy`)."""
    r = np.asarray(rewards, dtype=np.float64)
    g = np.asarray(pd.factorize(pd.Series(list(groups), dtype=object))[0])
    if r.shape != g.shape:
        raise ValueError(f"rewards ({r.shape}) and groups ({g.shape}) differ in length")
    scored = np.isfinite(r)
    n_unscored = int((~scored).sum())
    if n_unscored and config.unscored_policy == "fail":
        raise UnscoredSampleError(f"{n_unscored} of {r.size} {what} are unscored (unscored_policy=fail)")
    mean = np.full(r.shape, np.nan)
    std = np.full(r.shape, np.nan)
    zero_var = np.zeros(r.shape, dtype=bool)
    n_groups = int(g.max() + 1) if g.size else 0
    zero_groups = empty_groups = 0
    for gid in range(n_groups):
        member = g == gid
        vals = r[member & scored]
        if vals.size == 0:
            empty_groups += 1
            continue
        m, s = float(vals.mean()), _std(vals, config.std_ddof)
        mean[member], std[member] = m, s
        if vals.size < 2 or s < config.eps:
            zero_var[member] = True
            zero_groups += 1
    scale = std if config.std_mode == "group" else np.full(r.shape, _std(r[scored], config.std_ddof))
    adv = (r - mean) / (scale + config.eps)
    adv[zero_var] = 0.0
    keep = scored.copy()
    if config.zero_variance_policy == "drop":
        keep &= ~zero_var
    n_clipped = 0
    if config.clip is not None:
        n_clipped = int((np.abs(adv[keep]) > config.clip).sum())
        adv = np.clip(adv, -config.clip, config.clip)
    if config.unscored_policy == "zero":
        adv[~scored] = 0.0
        keep |= ~scored
    adv[~keep] = np.nan
    kept = adv[keep]
    diagnostics = {
        "n": int(r.size),
        "n_unscored": n_unscored,
        "n_kept": int(keep.sum()),
        "n_dropped": int((~keep).sum()),
        "n_groups": n_groups,
        "n_zero_variance_groups": zero_groups,
        "frac_zero_variance_groups": zero_groups / n_groups if n_groups else 0.0,
        "n_unscored_groups": empty_groups,
        "n_clipped": n_clipped,
        "adv_mean": float(kept.mean()) if kept.size else 0.0,
        "adv_std": float(kept.std()) if kept.size else 0.0,
    }
    return GroupAdvantages(adv, keep, mean, std, zero_var, diagnostics)


def plan_rewards(
    r_judge: Sequence[float],
    format_reward: Sequence[float],
    plan_ids: Sequence[Any],
    rollout_plan_ids: Sequence[Any],
    r_video: Sequence[float],
    judge_w: float = 0.15,
    video_w: float = 0.85,
    format_penalty: float = 1.0,
) -> np.ndarray:
    """R_plan^m = w_j·R_judge^m + w_v·mean_n R_video^{m,n} − λ·(1 − format^m) (DESIGN §2), the mean over the
    plan's scored continuations. NaN (unscored) when R_judge or every R_video of the plan is unscored."""
    video = (
        pd.Series(np.asarray(r_video, dtype=np.float64)).groupby(pd.Series(list(rollout_plan_ids), dtype=object)).mean()
    )  # NaN-skipping mean
    mean_video = video.reindex(pd.Index(list(plan_ids), dtype=object)).to_numpy(dtype=np.float64)
    judge = np.asarray(r_judge, dtype=np.float64)
    penalty = format_penalty * (1.0 - np.asarray(format_reward, dtype=np.float64))
    return judge_w * judge + video_w * mean_video - penalty


def exec_rewards(
    r_step: Sequence[float], r_aes: Sequence[float], step_w: float = 0.6, aes_w: float = 0.4
) -> np.ndarray:
    """R_exec^{m,n} = w_s·R_step + w_a·R_aes per continuation (DESIGN §2); NaN when either is unscored."""
    return step_w * np.asarray(r_step, dtype=np.float64) + aes_w * np.asarray(r_aes, dtype=np.float64)
