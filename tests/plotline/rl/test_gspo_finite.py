"""GSPO refuses NaN/inf: a non-finite advantage (named by sample), loss (named by step and samples) or gradient
norm (named by step) raises NonFiniteError and the optimiser does not step."""

import pytest
import torch

from plotline.rl.finite import NonFiniteError
from plotline.rl.gspo import GSPOBatch, gspo_update
from plotline.rl.gspo_config import GSPOConfig


def _setup(advantages, ids=("p0", "p1", "p2", "p3")):
    theta = torch.nn.Parameter(torch.zeros(4, 3))
    batch = GSPOBatch(
        mask=torch.ones(4, 3),
        old_logp=torch.full((4, 3), -1.0),
        advantages=torch.tensor(advantages),
        sample_ids=list(ids),
    )
    opt = torch.optim.SGD([theta], lr=0.1)
    return theta, batch, opt


def _cfg():
    return GSPOConfig(mini_batch_size=2, micro_batch_size=2, inner_epochs=1)


def test_finite_inputs_step_normally():
    theta, batch, opt = _setup([1.0, -1.0, 0.5, -0.5])
    metrics = gspo_update([theta], opt, batch, lambda idx: theta[idx] - 1.0, _cfg())
    assert len(metrics) == 2 and all(torch.isfinite(torch.tensor(m["grad_norm"])) for m in metrics)


def test_nan_advantage_is_refused_naming_the_sample():
    theta, batch, opt = _setup([1.0, float("nan"), 0.5, -0.5])
    with pytest.raises(NonFiniteError, match=r"sample p1 has a non-finite advantage \(1 of 4 samples\)"):
        gspo_update([theta], opt, batch, lambda idx: theta[idx] - 1.0, _cfg())
    assert torch.equal(theta.detach(), torch.zeros(4, 3))


def test_non_finite_loss_is_refused_naming_step_and_samples():
    theta, batch, opt = _setup([1.0, -1.0, 0.5, -0.5])

    def logp(idx):  # the policy returns NaN log-probs for sample p2
        out = theta[idx] - 1.0
        return torch.where((idx == 2)[:, None], torch.full_like(out, float("nan")), out)

    with pytest.raises(NonFiniteError, match=r"optimiser step \d: non-finite loss for samples .*p2"):
        gspo_update([theta], opt, batch, logp, _cfg())


def test_nan_gradient_is_refused_before_the_step():
    theta, batch, opt = _setup([1.0, -1.0, 0.5, -0.5])

    def logp(idx):  # finite value, NaN gradient: d/dθ sqrt(θ·0) at 0 is 0·inf
        return theta[idx] - 1.0 + torch.sqrt(theta[idx] * 0.0)

    with pytest.raises(NonFiniteError, match=r"epoch 0 optimiser step 0: non-finite gradient norm"):
        gspo_update([theta], opt, batch, logp, _cfg())
    assert torch.equal(theta.detach(), torch.zeros(4, 3))  # no step was taken
