"""Flow-GRPO trainer: on-policy identity, non-finite inputs, and a learning test on a brightness reward."""

import contextlib

import pytest
import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.lora import attach_lora
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer, NonFiniteError, TransitionGroup
from plotline.video import VideoConfig

torch.set_num_threads(1)  # tiny tensors: one thread avoids oversubscription on a shared CPU
IDS = list(range(8))


def make(cfg: FlowGRPOConfig, K=6, k=3):
    ex = build_executor(
        ExecutorConfig(latent_height=4, latent_width=4),
        VideoConfig(target_latent_frames=K, latent_frames_per_step=3, switch_frames=[k]),
        device="cpu",
    )
    peft = attach_lora(ex.model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets)
    ctx = ex.encode(["a dark square", "the square becomes bright"])
    return ex, FlowGRPOTrainer(peft, ex.generator, cfg), ctx, span_starts(K, 3, k)


def group(ex, ctx, starts, seed, adv=None, K=6, k=3):
    r = fork_rollout(ex.generator, ctx, starts, K, k, ex.noise(seed), "p", IDS)
    rw = r.continuations[:, :3].mean((1, 2, 3, 4))
    a = (rw - rw.mean()) / (rw.std() + 1e-6) if adv is None else adv
    t = r.trajectory
    return TransitionGroup(
        [f"s{i}" for i in IDS], r.prefix, ctx, starts, t.states, t.velocities, t.logprobs, t.sigmas, a
    ), rw


def test_recomputed_logprobs_give_ratio_one_and_zero_kl():
    ex, tr, ctx, starts = make(FlowGRPOConfig(lora_rank=4, lora_alpha=4))
    # perturb the LoRA so the adapted policy differs from the reference, then roll out with it
    with torch.no_grad():
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))
    g, _ = group(ex, ctx, starts, 0)
    terms = tr.group_terms(g, with_grad=False)
    assert torch.equal(terms["ratio"], torch.ones_like(terms["ratio"]))
    assert torch.equal(terms["logp"], g.logprobs[:, :3])
    assert float(terms["kl"].abs().max()) > 0  # adapter active → KL to reference is positive
    with tr.reference():
        g0, _ = group(ex, ctx, starts, 1)
    tr2_terms = None
    for p in tr.params:
        p.data.zero_()
    tr2_terms = tr.group_terms(g0, with_grad=False)
    assert torch.equal(tr2_terms["ratio"], torch.ones_like(tr2_terms["ratio"]))
    assert float(tr2_terms["kl"].abs().max()) == 0.0


def test_nan_inputs_stop_with_sample_id_and_never_step():
    ex, tr, ctx, starts = make(FlowGRPOConfig(lora_rank=2, lora_alpha=2, learning_rate=1e-2))
    g, _ = group(ex, ctx, starts, 0)
    before = [p.detach().clone() for p in tr.params]
    g.logprobs[3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="sample s3: non-finite log-probs"):
        tr.accumulate(g)
    g2, _ = group(ex, ctx, starts, 1)
    g2.states[5, 0, 0, 0, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="sample s5: non-finite latents"):
        tr.accumulate(g2)
    assert tr.state.optimizer_steps == 0
    assert all(torch.equal(a, b) for a, b in zip(before, tr.params))


def test_learning_raises_brightness_reward():
    cfg = FlowGRPOConfig(
        lora_rank=4,
        lora_alpha=4,
        learning_rate=1e-2,
        clip=0.2,
        beta=5e-4,
        ema_decay=0.5,
        max_grad_norm=10.0,
        grad_accum_steps=1,
    )
    ex, tr, ctx, starts = make(cfg)
    torch.manual_seed(0)
    start = torch.cat([group(ex, ctx, starts, 1000 + s)[1] for s in range(2)])
    for it in range(30):
        g, _ = group(ex, ctx, starts, it)
        m = tr.accumulate(g)
        assert m["grad_norm"] >= 0 and 0.5 < m["ratio_mean"] < 2
    end = torch.cat([group(ex, ctx, starts, 1000 + s)[1] for s in range(2)])
    print(f"brightness reward: start {start.mean():.3f}±{start.std():.3f} → end {end.mean():.3f}±{end.std():.3f}")
    assert tr.state.optimizer_steps == 30
    assert end.mean() > start.mean() + 3 * start.std()


def _three_updates(reference_switch: str) -> list[torch.Tensor]:
    """LoRA weights after three KL-regularised updates whose reference forwards use `reference_switch`."""
    torch.manual_seed(3)
    ex, tr, ctx, starts = make(FlowGRPOConfig(lora_rank=4, lora_alpha=4, learning_rate=1e-2, beta=0.1))
    with torch.no_grad():
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))  # B != 0: the reference differs from the policy
    switch = getattr(tr._adapters, reference_switch)

    @contextlib.contextmanager
    def reference():
        with torch.no_grad(), switch():
            yield

    tr.reference = reference  # the reference policy of this trainer's updates
    for it in range(3):
        assert tr.accumulate(group(ex, ctx, starts, it)[0])["kl"] > 0
    return [p.detach().clone() for p in tr.params]


def test_reference_forwards_flag_switch_updates_bitwise_like_peft_toggling():
    """The trainer's reference policy flips only the LoRA layers' flags (autograd off); peft's toggling also flips
    requires_grad. Same computation, so three updates give bitwise the same adapter."""
    toggled = _three_updates("disabled")
    flagged = _three_updates("disabled_for_inference")
    assert len(toggled) == len(flagged) and all(torch.equal(a, b) for a, b in zip(toggled, flagged, strict=True))
