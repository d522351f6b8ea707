"""Memory-bounded Flow-GRPO update: per-transition, per-micro-batch backward with optional block checkpointing
gives the one-big-backward gradient and metrics; live saved activations do not grow with T or N."""

import logging

import pytest
import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.executor.lora import attach_lora
from plotline.executor.prompts import span_starts
from plotline.executor.rollout import fork_rollout
from plotline.memory.saved import SavedBytesMeter
from plotline.rl.flow_grpo import flow_grpo_loss
from plotline.rl.flow_grpo_config import FlowGRPOConfig
from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer, TransitionGroup
from plotline.video import VideoConfig

torch.set_num_threads(1)
K, k = 6, 3


def setup(n: int, seed: int = 0, recache: bool = True, **cfg):
    cfg = FlowGRPOConfig(lora_rank=4, lora_alpha=4, clip=5e-4, beta=0.5, **cfg)
    ex = build_executor(
        ExecutorConfig(latent_height=4, latent_width=4, recache_on_switch=recache),
        VideoConfig(target_latent_frames=K, latent_frames_per_step=3, switch_frames=[k]),
        device="cpu",
    )
    torch.manual_seed(seed)
    peft = attach_lora(ex.model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets)
    tr = FlowGRPOTrainer(peft, ex.generator, cfg)
    with torch.no_grad():  # an adapter that differs from the reference (KL > 0)
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))
    ctx = ex.encode(["a dark square", "the square becomes bright"])
    starts = span_starts(K, 3, k)
    r = fork_rollout(ex.generator, ctx, starts, K, k, ex.noise(seed), "p", list(range(n)))
    t = r.trajectory
    adv = torch.linspace(-1.5, 2.5, n)
    g = TransitionGroup(
        [f"s{i}" for i in range(n)], r.prefix, ctx, starts, t.states, t.velocities, t.logprobs, t.sigmas, adv
    )
    with torch.no_grad():  # move the policy off the rollout weights: ratios ≠ 1, some clipped
        for p in tr.params:
            p.add_(0.02 * torch.randn_like(p))
    return tr, g


def grads(tr):
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in tr.params]


def old_formulation(tr, g):
    """The previous update: every transition's graph kept, all N in one batch, one backward of the loss."""
    terms = tr.group_terms(g, with_grad=True)
    out = flow_grpo_loss(terms["ratio"], g.advantages, terms["kl"], tr.cfg.clip, tr.cfg.adv_clip, tr.cfg.beta)
    out["loss"].backward()
    r = terms["ratio"].detach()
    return {key: v.detach() for key, v in out.items()}, r, grads(tr)


@pytest.mark.parametrize(
    "micro, ckpt, recache", [(None, False, True), (3, False, True), (1, True, True), (3, True, False)]
)
def test_split_backward_equals_one_big_backward(micro, ckpt, recache):
    # recache=False: the transition chunk computes the text K/V itself, so cross_attn.k/v train too (and their
    # recomputation under checkpointing must start from the same empty text cache)
    tr, g = setup(8, recache=recache, micro_batch_size=micro, gradient_checkpointing=ckpt)
    assert bool(tr.excluded) == recache
    tr.cfg = tr.cfg.model_copy(update={"micro_batch_size": None})
    tr.gen.model.gradient_checkpointing = False
    out, r, g_old = old_formulation(tr, g)
    tr.opt.zero_grad(set_to_none=True)
    tr.cfg = tr.cfg.model_copy(update={"micro_batch_size": micro})
    tr.gen.model.gradient_checkpointing = ckpt
    m = tr.backward(g)
    g_new = grads(tr)
    assert 0 < float(out["clip_fraction"]) < 1 and float(out["kl"]) > 0  # a non-degenerate loss
    assert m["loss"] == pytest.approx(float(out["loss"]), rel=1e-5, abs=1e-7)
    assert m["kl"] == pytest.approx(float(out["kl"]), rel=1e-5)
    assert m["policy_loss"] == pytest.approx(float(out["policy_loss"]), rel=1e-5, abs=1e-7)
    assert m["clip_fraction"] == pytest.approx(float(out["clip_fraction"]))
    for key, ref in (("ratio_mean", r.mean()), ("ratio_min", r.min()), ("ratio_max", r.max())):
        assert m[key] == pytest.approx(float(ref), rel=1e-5)
    if not recache:  # the text K/V carry gradient here: the cross-attention k/v LoRA learns
        names = [n for n, p in tr.peft_model.named_parameters() if p.requires_grad]
        assert any(float(gr.abs().max()) > 0 for n, gr in zip(names, g_new) if "cross_attn.k.lora_B" in n)
    total = torch.cat([x.flatten() for x in g_old]).norm()
    assert total > 0
    for a, b in zip(g_old, g_new):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * float(total))


def peak_saved(n: int, transitions: int, micro: int | None) -> int:
    tr, g = setup(n, train_transitions=transitions, micro_batch_size=micro)
    with SavedBytesMeter(exclude=tr.peft_model.parameters()) as meter:
        tr.backward(g)
    assert meter.current == 0  # every graph was freed by its backward
    return meter.peak


def test_peak_saved_bytes_bounded_by_micro_batch_not_transitions_or_n():
    one = peak_saved(8, 1, 2)
    assert one > 0
    assert peak_saved(8, 3, 2) <= 1.05 * one  # T = 3 transitions: no growth
    assert peak_saved(4, 1, 2) == pytest.approx(one, rel=0.05)  # N = 4 or 8: same micro-batch, same peak
    four = peak_saved(8, 1, 4)
    assert 1.6 * one < four < 2.4 * one  # twice the micro-batch: about twice the activations
    # the old formulation keeps every transition's graph of all N: far larger
    tr, g = setup(8, train_transitions=3)
    with SavedBytesMeter(exclude=tr.peft_model.parameters()) as meter:
        old_formulation(tr, g)
    assert meter.peak > 3 * four * 0.9


def test_cross_attention_kv_targets_are_excluded_with_a_message(caplog):
    with caplog.at_level(logging.WARNING, logger="plotline.rl.flow_grpo_trainer"):
        tr, g = setup(2)
    assert "cross_attn.k" in caplog.text and "cross_attn.v" in caplog.text and "no gradient" in caplog.text
    assert tr.excluded and all(".cross_attn.k" in m or ".cross_attn.v" in m for m in tr.excluded)
    named = dict(tr.peft_model.named_parameters())
    assert not any(p.requires_grad for n, p in named.items() if "cross_attn.k.lora" in n)
    assert any(p.requires_grad for n, p in named.items() if "self_attn.k.lora" in n)
    tr.backward(g)  # every remaining trainable parameter receives a gradient
    assert all(p.grad is not None for p in tr.params)
