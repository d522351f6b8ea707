"""GSPO ratio, loss and KL against an independent per-sequence re-implementation (plain Python loops)."""

import math

import torch

from plotline.rl.gspo import gspo_loss, kl_k3, sequence_ratio
from plotline.rl.gspo_config import GSPOConfig


def reference(logp, old, ref, mask, adv, eps, c, beta):
    """Written separately from the library: loops over sequences and tokens with Python floats."""
    B, T = len(logp), len(logp[0])
    ratios, surr, kls = [], [], []
    for i in range(B):
        toks = [t for t in range(T) if mask[i][t] > 0]
        n = max(len(toks), 1)
        s = sum(logp[i][t] - old[i][t] for t in toks) / n
        rho = math.exp(s)
        a = max(-c, min(c, adv[i]))
        unclipped, clipped = rho * a, max(1 - eps, min(1 + eps, rho)) * a
        surr.append(-min(unclipped, clipped))
        kls.append(sum(math.exp(ref[i][t] - logp[i][t]) - (ref[i][t] - logp[i][t]) - 1 for t in toks) / n)
        ratios.append(rho)
    loss = sum(surr) / B + beta * sum(kls) / B
    return ratios, loss, sum(kls) / B


def test_matches_independent_implementation_on_random_inputs():
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        B, T = 6, 9
        old = -torch.rand(B, T, generator=gen, dtype=torch.float64) * 3
        logp = old + torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.01
        ref = old + torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.2
        mask = (torch.rand(B, T, generator=gen) > 0.3).double()
        mask[0] = 0  # an empty row must not divide by zero
        adv = torch.randn(B, generator=gen, dtype=torch.float64) * 2  # some beyond the clip
        eps, c, beta = [(5e-4, 1.0, 0.04), (0.2, 0.5, 0.1)][trial % 2]
        terms = gspo_loss(logp, old, adv, mask, ref, clip=eps, adv_clip=c, kl_coef=beta)
        r_ratio, r_loss, r_kl = reference(
            logp.tolist(), old.tolist(), ref.tolist(), mask.tolist(), adv.tolist(), eps, c, beta
        )
        assert torch.allclose(terms.ratio, torch.tensor(r_ratio, dtype=torch.float64), atol=1e-12)
        assert math.isclose(float(terms.loss), r_loss, rel_tol=1e-10, abs_tol=1e-12)
        assert math.isclose(float(terms.kl), r_kl, rel_tol=1e-10, abs_tol=1e-12)
        assert torch.allclose(kl_k3(logp, ref, mask).mean(), torch.tensor(r_kl, dtype=torch.float64))


def test_identical_log_probs_give_ratio_exactly_one_and_zero_kl():
    logp = -torch.rand(4, 7, dtype=torch.float32)
    mask = (torch.rand(4, 7) > 0.2).float()
    assert torch.equal(sequence_ratio(logp, logp.clone(), mask), torch.ones(4))
    assert torch.equal(kl_k3(logp, logp.clone(), mask), torch.zeros(4))


def test_gradient_is_policy_gradient_on_policy_and_zero_outside_the_clip():
    old = -torch.rand(3, 5, dtype=torch.float64)
    mask = torch.ones(3, 5, dtype=torch.float64)
    adv = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    logp = old.clone().requires_grad_(True)
    gspo_loss(logp, old, adv, mask, clip=5e-4).loss.backward()
    # on-policy: d/dlogp_t of -mean(rho*A) = -A / (B * T)
    assert torch.allclose(logp.grad, (-adv / (3 * 5))[:, None].expand(3, 5))
    moved = (old + 0.01).requires_grad_(True)  # rho = e^0.01 > 1 + eps: positive advantages are clipped
    gspo_loss(moved, old, torch.ones(3, dtype=torch.float64), mask, clip=5e-4).loss.backward()
    assert torch.equal(moved.grad, torch.zeros_like(moved.grad))


def test_config_defaults():
    cfg = GSPOConfig()
    assert (cfg.clip, cfg.adv_clip, cfg.reference, cfg.inner_epochs) == (5e-4, 1.0, "start", 1)
