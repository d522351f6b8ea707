"""The ablation's statistics against independent formulations: Student-t quantiles against scipy and printed
tables, intervals against scipy.stats.t.interval, paired differences by hand on a small results table, the summary
over seeds; the config's validation and its YAML preset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from plotline.config import load_yaml
from plotline.eval.ablation_config import AblationCondition, AblationConfig, AblationVariant
from plotline.eval.ablation_stats import (
    incomplete_beta,
    mean_interval,
    seed_rows,
    student_t_cdf,
    student_t_quantile,
    summary_rows,
)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10, 29, 95, 287])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_student_t_quantile_matches_scipy(df, p):
    assert student_t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)
    assert student_t_quantile(1 - p, df) == pytest.approx(stats.t.ppf(1 - p, df), rel=1e-9)


def test_student_t_quantile_printed_table_and_closed_forms():
    # two-sided 95 % critical values of a printed t table
    for df, value in ((1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042)):
        assert round(student_t_quantile(0.975, df), 3) == value
    # df = 1 is Cauchy: F(t) = 1/2 + atan(t)/π; df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t²))
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    # I_x(1, 1) = x and I_x(a, 1) = x^a
    assert incomplete_beta(1, 1, 0.3) == pytest.approx(0.3)
    assert incomplete_beta(2.5, 1, 0.4) == pytest.approx(0.4**2.5)


def test_bad_quantile_arguments_are_named():
    with pytest.raises(ValueError, match="p = 1.5"):
        student_t_quantile(1.5, 3)
    with pytest.raises(ValueError, match="df = 0"):
        student_t_quantile(0.9, 0)


def test_mean_interval_matches_scipy():
    rng = np.random.default_rng(3)
    values = rng.normal(0.4, 0.1, size=17)
    got = mean_interval(values.tolist(), 0.95)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert got.mean == pytest.approx(values.mean()) and got.n == 17
    assert (got.lo, got.hi) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    one = mean_interval([0.3])
    assert (one.mean, one.lo, one.hi, one.n) == (0.3, None, None, 1)
    assert mean_interval([]).mean is None


def _results(scores: dict[str, list[float | None]]) -> pd.DataFrame:
    rows = []
    for cond, vals in scores.items():
        for i, v in enumerate(vals):
            for judge, metric in (("programmatic", "score"), ("programmatic", "final_score"), ("other", "score")):
                rows.append(
                    {
                        "condition": cond,
                        "prompt_id": f"p{i}",
                        "subset": "eval",
                        "judge": judge,
                        "metric": metric,
                        "value": v if (judge, metric) == ("programmatic", "score") else 0.99,
                        "status": "ok" if v is not None else "unscored",
                    }
                )
    return pd.DataFrame(rows)


def test_seed_rows_pair_prompts_and_drop_unscored():
    base = [0.2, 0.4, 0.6, 0.5]
    trained = [0.3, 0.4, 0.9, None]  # the last prompt is unscored: out of the mean and of the pairs
    rows = {
        r["condition"]: r
        for r in seed_rows(_results({"b": base, "t": trained}), ["b", "t"], "b", "programmatic", 7, 0.9)
    }
    t = rows["t"]
    assert t["seed"] == 7 and t["prompts"] == 3 and t["pairs"] == 3
    assert t["mean"] == pytest.approx((0.3 + 0.4 + 0.9) / 3)
    d = np.array([0.1, 0.0, 0.3])
    half = stats.t.ppf(0.95, 2) * d.std(ddof=1) / math.sqrt(3)
    assert t["delta"] == pytest.approx(d.mean())
    assert (t["delta_lo"], t["delta_hi"]) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert rows["b"]["delta"] == 0.0 and rows["b"]["prompts"] == 4


def test_seed_rows_name_a_missing_condition_or_judge():
    res = _results({"b": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"seed 3: .*\['t'\]"):
        seed_rows(res, ["b", "t"], "b", "programmatic", 3, 0.95)
    with pytest.raises(ValueError, match="judge 'vlm'"):
        seed_rows(res, ["b"], "b", "vlm", 3, 0.95)


def _seed_row(cond, seed, mean, delta, delta_lo):
    return {
        "condition": cond,
        "seed": seed,
        "mean": mean,
        "lo": mean - 0.1,
        "hi": mean + 0.1,
        "delta": delta,
        "delta_lo": delta_lo,
        "delta_hi": delta + 0.05,
        "bootstrap_s": 10.0,
        "train_s": 5.0 + seed,
        "rl_steps": 8,
        "train_videos": 100,
        "eval_s": 1.5,
        "eval_videos": 96,
    }


def test_summary_is_over_seeds_with_one_seed_falling_back_to_prompts():
    means, deltas = [0.40, 0.46, 0.43], [0.05, 0.09, -0.01]
    rows = [_seed_row("j", s, m, d, d - 0.02) for s, m, d in zip((0, 1, 2), means, deltas)]
    (j,) = summary_rows(rows, ["j"], 0.95, {"j": 0.418})
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(deltas), scale=stats.sem(deltas))
    assert j["interval_over"] == "seeds" and j["seeds"] == 3 and j["reference"] == 0.418
    assert j["mean"] == pytest.approx(np.mean(means)) and j["delta"] == pytest.approx(np.mean(deltas))
    assert (j["delta_lo"], j["delta_hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert j["seeds_above"] == 2  # seeds 0 and 1 have delta_lo > 0
    assert j["train_s"] == pytest.approx(5 + 6 + 7) and j["rl_steps"] == 24 and j["eval_videos"] == 3 * 96
    (one,) = summary_rows(rows[:1], ["j"], 0.95, {})
    assert one["interval_over"] == "prompts"  # the seed's own prompt intervals, passed through
    assert (one["lo"], one["delta_lo"]) == (rows[0]["lo"], rows[0]["delta_lo"])


def test_config_default_matches_the_yaml_preset_and_checks_names():
    cfg = AblationConfig()
    assert AblationConfig.model_validate(load_yaml("configs/ablation/tempact.yaml")) == cfg
    assert [v.name for v in cfg.used_variants()] == ["planner_rl", "executor_rl", "joint", "joint_self_paced"]
    with pytest.raises(ValueError, match="variant 'nope' is not one of the variants"):
        AblationConfig(conditions=[AblationCondition(name="x", label="x", variant="nope")], baseline="x")
    with pytest.raises(ValueError, match="baseline 'bootstrap' is not one of the conditions"):
        AblationConfig(conditions=[AblationCondition(name="x", label="x")])
    with pytest.raises(ValueError, match="reserved"):
        AblationConfig(variants=[AblationVariant(name="base")])


def test_variant_stages_name_an_unknown_omitted_stage():
    from plotline.config import load_config
    from plotline.eval.ablation import variant_stages

    cfg = load_config(["configs/shapes.yaml"])
    assert variant_stages(cfg, AblationVariant(name="p", omit_stages=["update_executor"]))[-1] == "update_planner"
    with pytest.raises(ValueError, match=r"variant 'v': omit_stages \['update_critic'\]"):
        variant_stages(cfg, AblationVariant(name="v", omit_stages=["update_critic"]))
