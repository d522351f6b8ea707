"""Denoising schedule: a list of training timesteps warped by the flow-matching shift (Self-Forcing's recipe)."""

from __future__ import annotations

import torch

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigma(s: float, shift: float) -> float:
    """σ = shift·s / (1 + (shift − 1)·s): the shifted flow-matching noise level of an unshifted level s ∈ [0, 1]."""
    return shift * s / (1.0 + (shift - 1.0) * s)


def warped_sigmas(
    step_list: list[int] | tuple[int, ...], shift: float = 5.0, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> torch.Tensor:
    """σ for each timestep t of step_list: s = t/T on the T-point grid, then shifted (float64, [len]).

    [1000, 750, 500, 250] with shift 5 → [1.0, 0.9375, 0.8333, 0.625].
    """
    out = []
    for t in step_list:
        if not 0 < t <= num_train_timesteps:
            raise ValueError(f"denoising step {t} is outside (0, {num_train_timesteps}]")
        out.append(shift_sigma(t / num_train_timesteps, shift))
    sig = torch.tensor(out, dtype=torch.float64)
    if len(sig) > 1 and not bool((sig[1:] < sig[:-1]).all()):
        raise ValueError(f"denoising steps must decrease strictly, got {list(step_list)}")
    return sig


def model_timestep(sigma: torch.Tensor | float) -> torch.Tensor:
    """The timestep the DiT is conditioned on: t = σ·T (T = 1000)."""
    return torch.as_tensor(sigma, dtype=torch.float64) * NUM_TRAIN_TIMESTEPS
