"""RatioNorm at real size (16 × 3 × 60 × 104 latents per sample): the fp32 ratio against a float64 evaluation of
DESIGN §3's log-prob formula, and the exact on-policy identity."""

import math

import pytest
import torch

from plotline.executor.sampler import stochastic_step
from plotline.rl.flow_grpo import ratio_norm

REAL = (3, 16, 3, 60, 104)  # 3 samples of one Wan-1.3B chunk
SIGMA, SIGMA_NEXT = 1.0, 0.9375  # first transition of the default schedule: σ'/((1−σ')σ) = 15


def _transition(seed: int, dv: float):
    g = torch.Generator().manual_seed(seed)
    x_t, v_old, eps = (torch.randn(REAL, generator=g) for _ in range(3))
    v_new = v_old + dv * torch.randn(REAL, generator=g)
    x_next = stochastic_step(x_t, v_old, SIGMA, SIGMA_NEXT, eps)  # fp32, as the rollout records it
    return x_t, v_old, v_new, x_next


def design_ratio(v_new, v_old, x_t, x_next, s, sn, dtype):
    """DESIGN §3 literally: chunk-mean Gaussian log-probs of both policies, log_r + bias, times σ'/((1−σ')σ)."""

    def mean_logp(v):
        mu = (1 - sn) * (x_t.to(dtype) - s * v.to(dtype))
        elem = -((x_next.to(dtype) - mu) ** 2) / (2 * sn**2) - math.log(sn) - 0.5 * math.log(2 * math.pi)
        return elem.flatten(1).mean(1)

    log_r = mean_logp(v_new) - mean_logp(v_old)
    bias = (1 - sn) ** 2 * s**2 / (2 * sn**2) * ((v_new.to(dtype) - v_old.to(dtype)) ** 2).flatten(1).mean(1)
    return torch.exp((log_r + bias) * sn / ((1 - sn) * s))


@pytest.mark.parametrize("seed", [0, 1])
def test_fp32_ratio_matches_float64_reference_at_real_size(seed):
    x_t, v_old, v_new, x_next = _transition(seed, 1e-3)
    ref = design_ratio(v_new, v_old, x_t, x_next, SIGMA, SIGMA_NEXT, torch.float64)
    got = ratio_norm(v_new, v_old, x_t, x_next, SIGMA, SIGMA_NEXT)
    assert got.dtype == torch.float32 and got.shape == (REAL[0],)
    assert (ref - 1).abs().max() > 3e-7  # the velocity change does move the ratio (by ~1e-3/sqrt(n))
    assert float((got.double() - ref).abs().max()) < 2e-7
    # the §3 formula evaluated in fp32 is what this form replaces: it is visibly worse on the same inputs
    old = design_ratio(v_new, v_old, x_t, x_next, SIGMA, SIGMA_NEXT, torch.float32)
    assert float((old.double() - ref).abs().max()) > float((got.double() - ref).abs().max())


def test_on_policy_ratio_is_exactly_one_at_real_size():
    x_t, v_old, _, x_next = _transition(2, 0.0)
    got = ratio_norm(v_old.clone(), v_old, x_t, x_next, SIGMA, SIGMA_NEXT)
    assert torch.equal(got, torch.ones(REAL[0]))


def test_gradient_flows_through_the_new_velocity_only():
    x_t, v_old, v_new, x_next = (t[:, :2, :1, :4, :4].clone() for t in _transition(3, 1e-2))
    v = v_new.clone().requires_grad_(True)
    ratio_norm(v, v_old, x_t, x_next, SIGMA, SIGMA_NEXT).sum().backward()
    # d ratio / d v = −ratio · ε / n (ε the step noise), an independent formula from the sampled noise
    eps = (x_next.double() - (1 - SIGMA_NEXT) * (x_t.double() - SIGMA * v_old.double())) / SIGMA_NEXT
    r = ratio_norm(v_new.double(), v_old.double(), x_t.double(), x_next.double(), SIGMA, SIGMA_NEXT)
    n = eps[0].numel()
    expect = -r.view(-1, 1, 1, 1, 1) * eps / n
    torch.testing.assert_close(v.grad.double(), expect, atol=1e-8, rtol=1e-4)
