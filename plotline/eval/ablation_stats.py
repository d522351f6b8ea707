"""Statistics of the method ablation: per-condition means of the temporal-following score with Student-t
intervals, paired differences to the baseline condition, one row per seed and one summary row per condition.

Per seed, the unit is the prompt: every condition of a seed is evaluated on the same held-out prompts with the same
noise, so the paired difference d_p = score_p(condition) − score_p(baseline) is taken prompt by prompt and its
interval is mean(d) ± t_{(1+c)/2, P−1} · sd(d) / √P.

Across seeds, the unit is the seed: a seed is one independent draw of everything random in training (bootstrap
initialisation, plan and rollout sampling, RL updates), while the prompts and the evaluation noise are the same for
every seed and every condition. Pooling prompts × seeds would count correlated observations (one prompt under
three seeds) as independent and understate the training noise the ablation is about, so the summary interval is
mean_s(m_s) ± t_{(1+c)/2, S−1} · sd_s(m_s) / √S over the seeds' means m_s. With a single seed it falls back to the
prompt interval of that seed and says so (`interval_over` = `prompts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

SCORE_METRIC = "score"
"""The eval_results metric holding the aggregated temporal-following score (R_video)."""
SCORED = ("ok", "repaired")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converged to 1e-14."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b) for 0 ≤ x ≤ 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"incomplete_beta: x = {x} is outside [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) of Student's t with `df` degrees of freedom: 1 − ½·I_{df/(df+t²)}(df/2, ½) for t ≥ 0."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF to 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"student_t_quantile: p = {p} is outside (0, 1)")
    if df <= 0:
        raise ValueError(f"student_t_quantile: df = {df} must be positive")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        hi *= 2.0
    while hi - lo > 1e-12 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if student_t_cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Interval:
    """A sample mean with its two-sided Student-t interval (lo/hi None with fewer than two values)."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """mean ± t_{(1+c)/2, n−1} · s / √n, with s the sample standard deviation (n − 1 in the denominator)."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = sum(vals) / n
    if n < 2:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = student_t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def prompt_scores(results: pd.DataFrame, judge: str) -> pd.DataFrame:
    """prompt_id × condition table of the scored temporal-following values of `judge` (unscored rows left out)."""
    rows = results[(results["judge"] == judge) & (results["metric"] == SCORE_METRIC)]
    if rows.empty:
        judges = sorted(results["judge"].unique())
        raise ValueError(f"eval results have no {SCORE_METRIC!r} rows of judge {judge!r} (judges: {judges})")
    rows = rows[rows["status"].isin(SCORED) & rows["value"].notna()]
    key = rows["subset"] + "/" + rows["prompt_id"]
    return rows.assign(prompt=key).pivot_table(index="prompt", columns="condition", values="value", aggfunc="first")


def seed_rows(
    results: pd.DataFrame, conditions: Sequence[str], baseline: str, judge: str, seed: int, confidence: float
) -> list[dict]:
    """One row per condition of one seed: mean score and paired difference to `baseline`, intervals over prompts."""
    table = prompt_scores(results, judge)
    missing = [c for c in [*conditions, baseline] if c not in table.columns]
    if missing:
        raise ValueError(f"seed {seed}: eval results have no scored rows of condition(s) {missing}")
    out = []
    for name in conditions:
        score = mean_interval(table[name].dropna().tolist(), confidence)
        both = table[name].notna() & table[baseline].notna()
        delta = mean_interval((table[name] - table[baseline])[both].tolist(), confidence)
        out.append(
            {
                "condition": name,
                "seed": seed,
                "prompts": score.n,
                "mean": score.mean,
                "lo": score.lo,
                "hi": score.hi,
                "pairs": delta.n,
                "delta": delta.mean,
                "delta_lo": delta.lo,
                "delta_hi": delta.hi,
            }
        )
    return out


COMPUTE_COLUMNS = ("bootstrap_s", "train_s", "rl_steps", "train_videos", "eval_s", "eval_videos")
"""Compute spent per condition and seed: wall seconds of the shared setup stages (instructions + bootstrap), of the
variant's RL stages, RL steps, continuations rendered in training, evaluation seconds (planning + generation,
reflection included) and evaluation videos."""


def summary_rows(
    per_seed: Sequence[dict], conditions: Sequence[str], confidence: float, references: Mapping[str, float | None]
) -> list[dict]:
    """One row per condition over all seeds: the mean of the seeds' means and of their paired differences, each
    with a t-interval over seeds (over prompts when there is one seed), how many seeds' paired intervals lie above
    0, and the compute summed over seeds."""
    out = []
    for name in conditions:
        rows = sorted((r for r in per_seed if r["condition"] == name), key=lambda r: r["seed"])
        if len(rows) == 1:
            r = rows[0]
            score = Interval(r["mean"], r["lo"], r["hi"], 1)
            delta = Interval(r["delta"], r["delta_lo"], r["delta_hi"], 1)
            over = "prompts"
        else:
            score = mean_interval([r["mean"] for r in rows if r["mean"] is not None], confidence)
            delta = mean_interval([r["delta"] for r in rows if r["delta"] is not None], confidence)
            over = "seeds"
        row = {
            "condition": name,
            "seeds": len(rows),
            "interval_over": over,
            "mean": score.mean,
            "lo": score.lo,
            "hi": score.hi,
            "delta": delta.mean,
            "delta_lo": delta.lo,
            "delta_hi": delta.hi,
            "seeds_above": sum(1 for r in rows if r["delta_lo"] is not None and r["delta_lo"] > 0),
            "reference": references.get(name),
        }
        for col in COMPUTE_COLUMNS:
            vals = [r.get(col) for r in rows]
            row[col] = None if any(v is None for v in vals) else sum(v for v in vals if v is not None)
        out.append(row)
    return out
