"""Group-relative advantages against hand-computed values."""

import math

import numpy as np
import pytest

from plotline.rl.advantage_config import AdvantageConfig
from plotline.rl.advantages import UnscoredSampleError, exec_rewards, group_advantages, plan_rewards

NAN = float("nan")
R = [1.0, 2.0, 3.0, 0.5, 0.5, 1.0, NAN, 3.0]
G = ["a", "a", "a", "b", "b", "c", "c", "c"]


def test_group_std_with_zero_variance_group_and_unscored_member():
    out = group_advantages(R, G, AdvantageConfig(clip=None))
    s = math.sqrt(2 / 3)  # population std of [1, 2, 3]
    expected = [-1 / s, 0.0, 1 / s, 0.0, 0.0, -1.0, NAN, 1.0]  # c: [1, 3] -> mean 2, std 1
    np.testing.assert_allclose(out.advantages, expected, rtol=1e-5)
    assert out.keep.tolist() == [True] * 6 + [False, True]
    assert out.zero_variance.tolist() == [False] * 3 + [True, True] + [False] * 3
    d = out.diagnostics
    assert d["n_unscored"] == 1 and d["n_dropped"] == 1 and d["n_groups"] == 3
    assert d["n_zero_variance_groups"] == 1 and d["frac_zero_variance_groups"] == pytest.approx(1 / 3)


def test_batch_std():
    out = group_advantages(R, G, AdvantageConfig(std_mode="batch", clip=None))
    std = 1.0151907  # population std of the 7 scored rewards [1, 2, 3, .5, .5, 1, 3]
    np.testing.assert_allclose(out.advantages[[0, 2, 5, 7]], [-1 / std, 1 / std, -1 / std, 1 / std], rtol=1e-5)


def test_unscored_zero_policy_keeps_sample_with_zero_advantage():
    out = group_advantages(R, G, AdvantageConfig(unscored_policy="zero", clip=None))
    assert out.advantages[6] == 0.0 and out.keep[6]
    assert out.advantages[5] == pytest.approx(-1.0, rel=1e-5)  # stats still exclude the unscored member


def test_unscored_fail_policy_raises_with_count():
    with pytest.raises(UnscoredSampleError, match="1 of 8"):
        group_advantages(R, G, AdvantageConfig(unscored_policy="fail"))


def test_zero_variance_drop_policy_and_singleton_group():
    out = group_advantages([0.5, 0.5, 2.0, NAN], ["b", "b", "d", "d"], AdvantageConfig(zero_variance_policy="drop"))
    assert out.keep.tolist() == [False, False, False, False]
    assert out.diagnostics["n_zero_variance_groups"] == 2


def test_clipping_and_ddof():
    out = group_advantages([0.0, 0.0, 0.0, 10.0], ["g"] * 4, AdvantageConfig(clip=1.5))
    # population std = sqrt(18.75) = 4.3301; advantages (-2.5, -2.5, -2.5, 7.5)/4.3301 -> clipped at 1.5
    np.testing.assert_allclose(out.advantages, [-0.57735, -0.57735, -0.57735, 1.5], rtol=1e-5)
    assert out.diagnostics["n_clipped"] == 1
    sample = group_advantages([1.0, 3.0], ["g", "g"], AdvantageConfig(std_ddof=1, clip=None))
    np.testing.assert_allclose(sample.advantages, [-1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-5)


def test_plan_rewards_with_format_penalty_and_unscored_video():
    r = plan_rewards(
        r_judge=[0.5, 0.2, NAN],
        format_reward=[1.0, 0.5, 1.0],
        plan_ids=["p1", "p2", "p3"],
        rollout_plan_ids=["p1", "p1", "p2", "p2", "p3"],
        r_video=[0.6, 0.8, 0.4, NAN, 0.9],
    )
    # p1: .15*.5 + .85*.7 ; p2: .15*.2 + .85*.4 - 1*(1-.5) ; p3: judge unscored
    np.testing.assert_allclose(r, [0.67, -0.13, NAN])


def test_exec_rewards_propagate_unscored():
    np.testing.assert_allclose(exec_rewards([0.5, NAN], [1.0, 1.0]), [0.7, NAN])
