"""The stochastic few-step sampler (the executor's policy) and its Gaussian log-probability (DESIGN §3)."""

from __future__ import annotations

import math

import torch


def predict_x0(x_t: torch.Tensor, v: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """x̂0 = x_t − σ·v (flow matching with v = ε − x0)."""
    return x_t - sigma * v


def step_mean(x_t: torch.Tensor, v: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """μ = (1 − σ')·x̂0, the mean of the next state x_{t'}."""
    return (1.0 - sigma_next) * predict_x0(x_t, v, sigma)


def stochastic_step(x_t: torch.Tensor, v: torch.Tensor, sigma, sigma_next, noise: torch.Tensor) -> torch.Tensor:
    """x_{t'} = (1 − σ')·x̂0 + σ'·ε: re-noise the predicted clean sample to the next level."""
    return step_mean(x_t, v, sigma, sigma_next) + sigma_next * noise


def gaussian_logprob(x_next: torch.Tensor, mean: torch.Tensor, std) -> torch.Tensor:
    """Per-sample mean over elements of log N(x_next; mean, std²), computed in fp32 → [B]."""
    x = x_next.float()
    mu = mean.float()
    std_t = torch.as_tensor(std, dtype=torch.float32, device=x.device)
    elem = -((x - mu) ** 2) / (2 * std_t**2) - torch.log(std_t) - 0.5 * math.log(2 * math.pi)
    return elem.flatten(1).mean(1)


def step_logprob(x_t, v, x_next, sigma, sigma_next) -> torch.Tensor:
    """log π(x_{t'} | x_t) averaged over the chunk: Gaussian with μ = (1−σ')(x_t − σv) and std σ' (fp32, [B])."""
    return gaussian_logprob(
        x_next, step_mean(x_t.float(), v.float(), float(sigma), float(sigma_next)), float(sigma_next)
    )
