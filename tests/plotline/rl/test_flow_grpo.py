"""Flow-GRPO math vs an independent re-implementation of the DESIGN §3 formulas on random inputs."""

import math

import numpy as np
import pytest
import torch

from plotline.executor.sampler import step_logprob
from plotline.executor.schedule import warped_sigmas
from plotline.rl.flow_grpo import clipped_policy_loss, flow_grpo_loss, ratio_norm, velocity_kl


def ref_ratio(lp_new, lp_old, v_new, v_old, s, sn):
    out = []
    for b in range(len(lp_new)):
        log_r = lp_new[b] - lp_old[b]
        bias = (1 - sn) ** 2 * s**2 / (2 * sn**2) * np.mean((v_new[b] - v_old[b]) ** 2)
        out.append(math.exp((log_r + bias) * sn / ((1 - sn) * s)))
    return np.array(out)


def ref_loss(r, a, eps, aclip, beta, kl):
    a = np.clip(a, -aclip, aclip)[:, None]
    return np.mean(np.maximum(-a * r, -a * np.clip(r, 1 - eps, 1 + eps))) + beta * np.mean(kl)


def test_schedule_values():
    torch.testing.assert_close(
        warped_sigmas([1000, 750, 500, 250], 5.0), torch.tensor([1.0, 0.9375, 0.8333333333, 0.625], dtype=torch.float64)
    )
    with pytest.raises(ValueError):
        warped_sigmas([500, 750])


def test_logprob_is_elementwise_gaussian_mean():
    g = torch.Generator().manual_seed(0)
    x, v, xn = (torch.randn(3, 4, 3, 2, 2, generator=g) for _ in range(3))
    s, sn = 0.9375, 0.8333
    mu = (1 - sn) * (x - s * v)
    expect = torch.distributions.Normal(mu.double(), sn).log_prob(xn.double()).flatten(1).mean(1).float()
    got = step_logprob(x, v, xn, s, sn)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=1e-5)


def _gauss_mean_logp(x_next, mean, std):
    return np.mean(-((x_next - mean) ** 2) / (2 * std**2) - np.log(std) - 0.5 * np.log(2 * np.pi))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ratio_norm_and_loss_match_reference(seed):
    # float64 inputs of a real transition: x_next sampled from the old policy; log-probs from the Gaussian formula
    rng = np.random.default_rng(seed)
    B, s, sn = 5, 0.9375, 0.8333
    x_t, v_old, eps = (rng.normal(size=(B, 4, 3, 2, 2)) for _ in range(3))
    v_new = v_old + rng.normal(0, 0.05, v_old.shape)
    x_next = (1 - sn) * (x_t - s * v_old) + sn * eps
    lp_new = np.array([_gauss_mean_logp(x_next[b], (1 - sn) * (x_t[b] - s * v_new[b]), sn) for b in range(B)])
    lp_old = np.array([_gauss_mean_logp(x_next[b], (1 - sn) * (x_t[b] - s * v_old[b]), sn) for b in range(B)])
    got = ratio_norm(*(torch.tensor(a) for a in (v_new, v_old, x_t, x_next)), s, sn)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref_ratio(lp_new, lp_old, v_new, v_old, s, sn), rtol=1e-10)

    r = rng.uniform(0.5, 1.5, (B, 3))
    a = rng.normal(0, 2, B)
    kl = rng.uniform(0, 1, (B, 3))
    out = flow_grpo_loss(torch.tensor(r), torch.tensor(a), torch.tensor(kl), clip=0.2, adv_clip=2.0, beta=5e-4)
    np.testing.assert_allclose(float(out["loss"]), ref_loss(r, a, 0.2, 2.0, 5e-4, kl), rtol=1e-5)
    np.testing.assert_allclose(float(out["clip_fraction"]), np.mean(np.abs(r - 1) > 0.2), rtol=1e-6)


def test_on_policy_ratio_is_one_and_kl_zero():
    x, v, xn = (torch.randn(4, 4, 3, 2, 2) for _ in range(3))
    assert torch.equal(ratio_norm(v, v.clone(), x, xn, 1.0, 0.9375), torch.ones(4))
    assert float(velocity_kl(v, v).abs().max()) == 0.0
    with pytest.raises(ValueError, match="σ'"):
        ratio_norm(v, v, x, xn, 0.625, 0.0)


def test_advantage_clipping_bounds_the_loss():
    r = torch.ones(2, 1)
    big = clipped_policy_loss(r, torch.tensor([100.0, -100.0]).clamp(-2, 2), 0.1)
    assert big.abs().max() == 2.0
