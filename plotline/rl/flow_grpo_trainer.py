"""Flow-GRPO update of the executor's LoRA: rebuild the shared prefix cache from stored clean latents, recompute
the transition chunk's log-probs, RatioNorm + clipped loss + KL to the adapter-disabled reference on every update,
gradient accumulation, max-grad-norm, AdamW, EMA of the LoRA weights. Never steps on non-finite values."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from plotline.executor.denoise_loop import ChunkGenerator, cache_from_latents
from plotline.executor.lora import AdapterSwitch
from plotline.executor.sampler import step_logprob
from plotline.executor.schedule import model_timestep
from plotline.rl.finite import NonFiniteError  # re-exported (one error for both updates)
from plotline.rl.flow_grpo import clip_advantages, clipped_policy_loss, flow_grpo_loss, ratio_norm, velocity_kl
from plotline.rl.flow_grpo_config import FlowGRPOConfig

log = logging.getLogger(__name__)


@dataclass
class TransitionGroup:
    """One plan's group: the shared clean prefix and the N continuations' transition-chunk trajectories.

    states/velocities [N, S, C, f, h, w], logprobs [N, S−1], sigmas [S], advantages [N]; contexts one per span
    ([1, Lt, D]); starts the span starts; sample_ids name the N rows (for error messages).
    """

    sample_ids: list[str]
    prefix: torch.Tensor
    contexts: list[torch.Tensor]
    starts: list[int]
    states: torch.Tensor
    velocities: torch.Tensor
    logprobs: torch.Tensor
    sigmas: torch.Tensor
    advantages: torch.Tensor

    def check_finite(self) -> None:
        """Raise NonFiniteError naming the first sample with NaN/inf in latents, velocities, log-probs or advantage."""
        if not torch.isfinite(self.prefix).all():
            raise NonFiniteError(f"non-finite prefix latents shared by samples {', '.join(self.sample_ids)}")
        for n, sid in enumerate(self.sample_ids):
            for name, t in (
                ("latents", self.states[n]),
                ("velocities", self.velocities[n]),
                ("log-probs", self.logprobs[n]),
                ("advantage", self.advantages[n]),
            ):
                if not torch.isfinite(t).all():
                    raise NonFiniteError(f"sample {sid}: non-finite {name}")

    def to(self, device: torch.device | str) -> TransitionGroup:
        """The same group with its tensors on `device` (stored groups are read on the CPU)."""
        return replace(
            self,
            prefix=self.prefix.to(device),
            contexts=[c.to(device) for c in self.contexts],
            states=self.states.to(device),
            velocities=self.velocities.to(device),
            logprobs=self.logprobs.to(device),
            advantages=self.advantages.to(device),
        )


@dataclass
class TrainerState:
    """Counters kept across updates."""

    optimizer_steps: int = 0
    metrics: list[dict] = field(default_factory=list)


GradSync = Callable[[Sequence[torch.nn.Parameter]], None]
"""Called on the trainable parameters before every optimizer step (e.g. an all-reduce of their gradients)."""


GRADLESS_TARGETS = ("cross_attn.k", "cross_attn.v")
"""LoRA'd modules that see no gradient when the backbone re-caches at a switch: the re-cache computes the new
prompt's text K/V without grad and the transition chunk reads them from the cache."""


def exclude_gradless_targets(peft_model, recache_on_switch: bool) -> list[str]:
    """Freeze (and name, in a warning) the LoRA parameters that cannot receive a gradient in the update: those of
    `cross_attn.k`/`cross_attn.v` when the backbone re-caches at a switch. Returns the frozen module names."""
    if not recache_on_switch:
        return []
    frozen = set()
    for name, p in peft_model.named_parameters():
        module = name.split(".lora_")[0]
        if p.requires_grad and ".lora_" in name and module.endswith(GRADLESS_TARGETS):
            p.requires_grad_(False)
            frozen.add(module.split("model.", 1)[-1] if module.startswith("base_model.") else module)
    if frozen:
        targets = sorted({m.rsplit(".", 2)[-2] + "." + m.rsplit(".", 1)[-1] for m in frozen})
        log.warning(
            "LoRA target(s) %s get no gradient (the switch re-cache stores the text K/V without grad): "
            "their LoRA weights are frozen in this update (%d modules)",
            ", ".join(targets),
            len(frozen),
        )
    return sorted(frozen)


class FlowGRPOTrainer:
    """Trains the LoRA of a peft-wrapped CausalWanDiT with Flow-GRPO.

    `grad_sync` (optional) runs on the LoRA parameters right before gradient clipping in every `step`; a
    data-parallel update passes a sum all-reduce, so each rank's `backward` of its own groups (each loss scaled
    by 1/grad_accum_steps) adds up to the single-process accumulation over the same groups.
    """

    def __init__(self, peft_model, gen: ChunkGenerator, cfg: FlowGRPOConfig, grad_sync: GradSync | None = None):
        self.peft_model, self.gen, self.cfg = peft_model, gen, cfg
        self._adapters = AdapterSwitch(peft_model)
        self.grad_sync = grad_sync
        self.excluded = exclude_gradless_targets(peft_model, gen.recache_on_switch)
        gen.model.gradient_checkpointing = cfg.gradient_checkpointing
        self.params = [p for p in peft_model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the executor model has no trainable (LoRA) parameters")
        self.opt = torch.optim.AdamW(
            self.params,
            lr=cfg.learning_rate,
            betas=(cfg.adam_betas[0], cfg.adam_betas[1]),
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
        )
        self.ema = [p.detach().clone() for p in self.params]
        self.state = TrainerState()
        self._pending = 0

    @contextmanager
    def reference(self):
        """The reference policy: the same network with the RL adapter disabled (its forwards run without autograd)."""
        with torch.no_grad(), self._adapters.disabled_for_inference():
            yield

    def _velocity(self, cache, x, sigma, context, start) -> torch.Tensor:
        b, f = x.shape[0], x.shape[2]
        t = model_timestep(float(sigma)).to(torch.float32).expand(b, f)
        return self.gen.model(x, t, context, cache=cache, start_frame=start)

    def _caches(self, g: TransitionGroup):
        """Batch-1 prefix caches (policy, and reference when β > 0) rebuilt from the clean prefix, no grad."""
        cache = cache_from_latents(self.gen, g.prefix, g.contexts, g.starts)
        ref = None
        if self.cfg.beta:
            with self.reference():
                ref = cache_from_latents(self.gen, g.prefix, g.contexts, g.starts)
        return cache, ref

    def micro_batches(self, n: int) -> list[slice]:
        """Row slices of the N continuations, `micro_batch_size` at a time (all N when None)."""
        size = self.cfg.micro_batch_size or n
        return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]

    def transition_terms(
        self, g: TransitionGroup, i: int, rows: slice, cache, ref_cache, with_grad: bool = True
    ) -> dict[str, torch.Tensor]:
        """Ratio [B], KL [B] and new log-prob [B] of transition i for the continuations `rows` (B of them), from
        one forward of the policy (with grad when with_grad) and one no-grad forward of the reference."""
        k = g.prefix.shape[2]
        x_t, x_next = g.states[rows, i], g.states[rows, i + 1]
        b = x_t.shape[0]
        from plotline.executor.prompts import frame_prompt_index

        ctx = g.contexts[frame_prompt_index(g.starts, k)].expand(b, -1, -1)
        sigma, sigma_next = float(g.sigmas[i]), float(g.sigmas[i + 1])
        with torch.set_grad_enabled(with_grad):
            v = self._velocity(cache.fork(b), x_t, sigma, ctx, k)
        logp = step_logprob(x_t, v, x_next, sigma, sigma_next)
        bad = ~(torch.isfinite(logp) & torch.isfinite(v.detach().flatten(1)).all(1))
        if v.device.type != "meta" and bad.any():  # meta: shapes only (plotline memory)
            raise NonFiniteError(
                f"sample {g.sample_ids[rows][int(bad.nonzero()[0])]}: non-finite recomputed "
                f"log-prob/velocity at transition {i}"
            )
        ratio = ratio_norm(v, g.velocities[rows, i], x_t, x_next, sigma, sigma_next)
        if ref_cache is not None:
            with self.reference():
                v_ref = self._velocity(ref_cache.fork(b), x_t, sigma, ctx, k)
            kl = velocity_kl(v, v_ref)
        else:
            kl = torch.zeros(b, device=logp.device)
        return {"ratio": ratio, "kl": kl, "logp": logp}

    def _steps(self, g: TransitionGroup) -> int:
        return min(self.cfg.train_transitions, g.logprobs.shape[1])

    def group_terms(self, g: TransitionGroup, with_grad: bool = True) -> dict[str, torch.Tensor]:
        """Per-sample, per-transition ratio [N, T], KL [N, T] and new log-probs for the first T transitions, all
        graphs kept when with_grad (the one-big-backward formulation; `backward` frees each graph at once)."""
        cache, ref = self._caches(g)
        cols = [
            [self.transition_terms(g, i, rows, cache, ref, with_grad) for rows in self.micro_batches(len(g.sample_ids))]
            for i in range(self._steps(g))
        ]
        return {
            key: torch.stack([torch.cat([t[key] for t in col]) for col in cols], 1) for key in ("ratio", "kl", "logp")
        }

    def accumulate(self, g: TransitionGroup) -> dict[str, float]:
        """Forward + backward of one group (scaled by 1/grad_accum); steps the optimizer every grad_accum groups."""
        metrics = self.backward(g)
        if self._pending >= self.cfg.grad_accum_steps:
            metrics["grad_norm"] = self.step(g.sample_ids)
        return metrics

    def _fail(self, message: str) -> NonFiniteError:
        self.opt.zero_grad(set_to_none=True)
        self._pending = 0
        return NonFiniteError(message)

    def backward(self, g: TransitionGroup) -> dict[str, float]:
        """Forward + backward of one group, its loss scaled by 1/grad_accum_steps; never steps. Returns the
        group's metrics (loss, KL, ratio mean/min/max, clip fraction, advantage stats).

        The loss mean over [N, T] of max(−A·r, −A·clip(r)) + β·mean(kl) is a sum of per-(transition, micro-batch)
        blocks: block (i, rows) contributes |rows|/(N·T)·(mean_rows(policy) + β·mean_rows(kl)). Each block is
        back-propagated as soon as it is computed, so only one block's graph is alive at a time; the gradients
        add up to the gradient of the whole loss.
        """
        g.check_finite()
        n, steps = len(g.sample_ids), self._steps(g)
        adv = clip_advantages(g.advantages, self.cfg.adv_clip)
        cache, ref = self._caches(g)
        ratio = torch.empty(n, steps, device=adv.device)
        kl = torch.empty(n, steps, device=adv.device)
        for i in range(steps):
            for rows in self.micro_batches(n):
                t = self.transition_terms(g, i, rows, cache, ref)
                share = (rows.stop - rows.start) / (n * steps)
                block = clipped_policy_loss(t["ratio"], adv[rows], self.cfg.clip).mean() * share + self.cfg.beta * (
                    t["kl"].float().mean() * share
                )
                if not torch.isfinite(block):
                    raise self._fail(f"non-finite loss for samples {', '.join(g.sample_ids[rows])} at transition {i}")
                if block.requires_grad:
                    (block / self.cfg.grad_accum_steps).backward()
                ratio[rows, i], kl[rows, i] = t["ratio"].detach(), t["kl"].detach()
        out = flow_grpo_loss(ratio, g.advantages, kl, self.cfg.clip, self.cfg.adv_clip, self.cfg.beta)
        if not torch.isfinite(out["loss"]):
            raise self._fail(f"non-finite loss for samples {', '.join(g.sample_ids)}")
        self._pending += 1
        adv = g.advantages.float()
        metrics = {
            "loss": float(out["loss"]),
            "policy_loss": float(out["policy_loss"]),
            "kl": float(out["kl"]),
            "ratio_mean": float(ratio.mean()),
            "ratio_min": float(ratio.min()),
            "ratio_max": float(ratio.max()),
            "clip_fraction": float(out["clip_fraction"]),
            "adv_mean": float(adv.mean()),
            "adv_std": float(adv.std(unbiased=False)),
            "adv_min": float(adv.min()),
            "adv_max": float(adv.max()),
        }
        return metrics

    def step(self, sample_ids: list[str] | None = None) -> float:
        """(Sync gradients,) clip them to max_grad_norm, AdamW step, EMA update; refuses to step on a non-finite
        gradient."""
        if self.grad_sync is not None:
            self.grad_sync(self.params)
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        if not torch.isfinite(norm):
            self.opt.zero_grad(set_to_none=True)
            self._pending = 0
            raise NonFiniteError(f"non-finite gradient norm (samples {', '.join(sample_ids or [])}); no step taken")
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self._pending = 0
        self.state.optimizer_steps += 1
        with torch.no_grad():
            d = self.cfg.ema_decay
            for e, p in zip(self.ema, self.params):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
        return float(norm)

    def flush(self) -> float | None:
        """Step on gradients left over from an incomplete accumulation window."""
        return self.step() if self._pending else None

    @contextmanager
    def ema_weights(self):
        """Temporarily swap the EMA weights into the LoRA parameters (e.g. to save the adapter)."""
        saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, e in zip(self.params, self.ema):
                p.copy_(e)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)
