"""GSPO: group sequence policy optimisation with a length-normalised sequence ratio (DESIGN §4).

For sequence i with completion mask m_i:
    s_i   = Σ_t m_it (logπ_θ − logπ_old)_it / Σ_t m_it           (length-normalised log-ratio)
    ρ_i   = exp(s_i)
    L_pg  = mean_i −min(ρ_i Â_i, clip(ρ_i, 1−ε, 1+ε) Â_i),   Â_i = clip(A_i, −c, c)
    KL_i  = Σ_t m_it k3_it / Σ_t m_it,   k3 = exp(logπ_ref − logπ_θ) − (logπ_ref − logπ_θ) − 1
    L     = L_pg + β · mean_i KL_i
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from plotline.parallel.collective import Collective
from plotline.progress import Progress, no_progress
from plotline.rl.finite import NonFiniteError
from plotline.rl.gspo_config import GSPOConfig


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-row Σ m·v / Σ m over the last dim (rows with an empty mask give 0)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def sequence_log_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """s_i = Σ m (logπ_θ − logπ_old) / Σ m, shape [B]."""
    return masked_mean(logp - old_logp, mask)


def sequence_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ρ_i = exp(s_i): GSPO's length-normalised importance ratio, shape [B]."""
    return torch.exp(sequence_log_ratio(logp, old_logp, mask))


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence masked mean of the k3 estimator exp(r) − r − 1, r = logπ_ref − logπ_θ, shape [B]."""
    r = ref_logp - logp
    return masked_mean(torch.exp(r) - r - 1.0, mask)


@dataclass
class GSPOTerms:
    """The loss and its parts for one batch."""

    loss: torch.Tensor
    pg_loss: torch.Tensor
    kl: torch.Tensor
    ratio: torch.Tensor
    clipped: torch.Tensor


def gspo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    clip: float = 5e-4,
    adv_clip: float = 1.0,
    kl_coef: float = 0.0,
) -> GSPOTerms:
    """GSPO objective (module docstring): mean clipped sequence surrogate + β·mean k3 KL (KL is 0 without a
    reference). Tensors are [B, T] token-level, `advantages` is [B]."""
    adv = advantages.to(logp.dtype).clamp(-adv_clip, adv_clip)
    ratio = sequence_ratio(logp, old_logp, mask)
    clipped_ratio = ratio.clamp(1.0 - clip, 1.0 + clip)
    per_seq = -torch.minimum(ratio * adv, clipped_ratio * adv)
    pg = per_seq.mean()
    if ref_logp is not None and kl_coef > 0:
        kl = kl_k3(logp, ref_logp, mask).mean()
    else:
        kl = torch.zeros((), dtype=logp.dtype, device=logp.device)
    loss = pg + kl_coef * kl
    clipped = ((ratio * adv) > (clipped_ratio * adv)).to(logp.dtype)
    return GSPOTerms(loss=loss, pg_loss=pg.detach(), kl=kl.detach(), ratio=ratio.detach(), clipped=clipped.detach())


@dataclass
class GSPOBatch:
    """Everything the update needs about N sampled sequences, padded to a common completion length T."""

    mask: torch.Tensor
    """[N, T] completion mask (1 = trained token)."""
    old_logp: torch.Tensor
    """[N, T] log-probs under the sampling weights."""
    advantages: torch.Tensor
    """[N] plan advantages."""
    ref_logp: torch.Tensor | None = None
    """[N, T] log-probs under the frozen reference (None: no KL term)."""
    sample_ids: list[str] | None = None
    """Name of each row (e.g. the plan id) for error messages; None: rows are named by index."""

    def __len__(self) -> int:
        return int(self.advantages.shape[0])

    def name(self, i: int) -> str:
        """How error messages name row `i`."""
        return self.sample_ids[i] if self.sample_ids else f"#{i}"

    def check_finite(self) -> None:
        """Raise NonFiniteError naming the first sample with a NaN/inf advantage or old/reference log-prob."""
        for what, t in (
            ("advantage", self.advantages),
            ("old log-probs", self.old_logp),
            ("reference log-probs", self.ref_logp),
        ):
            if t is None:
                continue
            bad = ~torch.isfinite(t if t.dim() == 1 else torch.where(self.mask.bool(), t, torch.zeros_like(t)))
            rows = bad if bad.dim() == 1 else bad.any(-1)
            if rows.any():
                i = int(rows.nonzero()[0])
                raise NonFiniteError(
                    f"GSPO: sample {self.name(i)} has a non-finite {what} "
                    f"({int(rows.sum())} of {len(self)} samples); refusing to update"
                )


PolicyLogprobs = Callable[[torch.Tensor], torch.Tensor]
"""Maps a LongTensor of sequence indices to their [len(idx), T] log-probs under the current policy (with grad)."""


def gspo_update(
    params: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    batch: GSPOBatch,
    policy_logprobs: PolicyLogprobs,
    config: GSPOConfig,
    seed: int = 0,
    collective: Collective | None = None,
    progress: Progress = no_progress,
) -> list[dict]:
    """Run `inner_epochs` passes over shuffled mini-batches; each mini-batch accumulates gradients over its
    micro-batches (loss weighted by their share of the mini-batch), clips the grad norm and takes one step.
    Returns one metrics dict per optimiser step; `progress(step, steps, loss)` after each.

    With a multi-rank `collective` every rank draws the same permutation, back-propagates its round-robin share
    of each mini-batch's micro-batches, and the gradients and metric sums are added across ranks before the
    clip and the step: the same update as one process, up to floating-point summation order."""
    coll = collective or Collective()
    batch.check_finite()
    gen = torch.Generator().manual_seed(seed)
    n = len(batch)
    mini = max(1, min(config.mini_batch_size, n))
    micro = max(1, min(config.micro_batch_size, mini))
    metrics: list[dict] = []
    total = config.inner_epochs * -(-n // mini)
    progress(0, total)
    for epoch in range(config.inner_epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, mini):
            idx_mini = order[start : start + mini]
            optimizer.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "ratio": 0.0, "clip_frac": 0.0}
            rmin, rmax = math.inf, -math.inf
            micro_batches = [idx_mini[ms : ms + micro] for ms in range(0, len(idx_mini), micro)]
            for idx in coll.share(micro_batches):
                logp = policy_logprobs(idx)
                dev = logp.device
                terms = gspo_loss(
                    logp,
                    batch.old_logp[idx].to(dev),
                    batch.advantages[idx].to(dev),
                    batch.mask[idx].to(dev),
                    None if batch.ref_logp is None else batch.ref_logp[idx].to(dev),
                    clip=config.clip,
                    adv_clip=config.adv_clip,
                    kl_coef=config.kl_coef,
                )
                if not torch.isfinite(terms.loss):
                    optimizer.zero_grad(set_to_none=True)
                    raise NonFiniteError(
                        f"GSPO epoch {epoch} optimiser step {len(metrics)}: non-finite loss for "
                        f"samples {', '.join(batch.name(int(i)) for i in idx)}; no step taken"
                    )
                share = len(idx) / len(idx_mini)
                (terms.loss * share).backward()
                sums["loss"] += float(terms.loss.detach()) * share
                sums["pg_loss"] += float(terms.pg_loss) * share
                sums["kl"] += float(terms.kl) * share
                sums["ratio"] += float(terms.ratio.mean()) * share
                sums["clip_frac"] += float(terms.clipped.mean()) * share
                rmin, rmax = min(rmin, float(terms.ratio.min())), max(rmax, float(terms.ratio.max()))
            if coll.world_size > 1:
                coll.sum_grads(params)
                sums = dict(zip(sums, coll.sum_floats(list(sums.values()))))
                rmin, rmax = coll.min_float(rmin), coll.max_float(rmax)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            if not torch.isfinite(grad_norm):
                optimizer.zero_grad(set_to_none=True)
                raise NonFiniteError(
                    f"GSPO epoch {epoch} optimiser step {len(metrics)}: non-finite gradient norm "
                    f"({float(grad_norm)}) over samples "
                    f"{', '.join(batch.name(int(i)) for i in idx_mini)}; no step taken"
                )
            optimizer.step()
            metrics.append(
                {"epoch": epoch, **sums, "ratio_min": rmin, "ratio_max": rmax, "grad_norm": float(grad_norm)}
            )
            progress(len(metrics), total, sums["loss"])
    optimizer.zero_grad(set_to_none=True)
    return metrics
