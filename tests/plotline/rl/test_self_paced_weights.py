"""Self-Paced GRPO weights against hand-computed values."""

import math

import numpy as np
import pytest

from plotline.rl.self_paced import hoyer, self_paced_rewards, self_paced_weights


def test_hoyer_extremes():
    assert hoyer([1.0, 1.0, 1.0]) == pytest.approx(0.0)
    assert hoyer([0.0, 0.0, 2.0]) == pytest.approx(1.0)
    assert hoyer([0.0, 0.0]) == 0.0 and hoyer([3.0]) == 0.0
    # G = 2, r = [3, 1]: (sqrt2 - 4/sqrt10) / (sqrt2 - 1)
    assert hoyer([3.0, 1.0]) == pytest.approx((math.sqrt(2) - 4 / math.sqrt(10)) / (math.sqrt(2) - 1))


def test_weights_hand_computed():
    terms = np.array([[1.0, 1.0], [1.0, 0.0]])  # r_1 = [1, 1] (Hoyer 0), r_2 = [1, 0] (Hoyer 1)
    w = self_paced_weights(terms, thresholds=[0.5, 0.5], alpha=1.0, beta=1.0)
    g1 = 1 / (1 + math.exp(-0.5))  # sigmoid(1 - .5), no predecessor
    g2 = 0.5 + 1.0 * (0.0 - 1.0)  # sigmoid(.5 - .5) + beta*(H(r_1) - H(r_2))
    e1, e2 = math.exp(g1), math.exp(g2)
    np.testing.assert_allclose(w, [e1 / (e1 + e2), e2 / (e1 + e2)])
    assert w[0] == pytest.approx(0.75444, abs=1e-5)  # 1 / (1 + e^-1.12246)


def test_alpha_sharpens_towards_the_most_competent_term():
    terms = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.9, 0.1, 0.6]])
    soft = self_paced_weights(terms, [0.5] * 3, alpha=1.0, beta=0.0)
    sharp = self_paced_weights(terms, [0.5] * 3, alpha=50.0, beta=0.0)
    assert soft.sum() == pytest.approx(1.0) and sharp.argmax() == 0 and sharp[0] > soft[0]


def test_per_group_rewards_skip_unscored_rows():
    terms = np.array([[1.0, 1.0], [1.0, 0.0], [0.2, np.nan]])
    rewards, weights = self_paced_rewards(terms, ["g", "g", "g"], [0.5, 0.5], 1.0, 1.0)
    w = weights["g"]
    np.testing.assert_allclose(rewards[:2], [w.sum(), w[0]])
    assert np.isnan(rewards[2])
