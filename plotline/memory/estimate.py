"""Peak GPU memory of every heavy stage of a preset, estimated on the meta device (no weights, no GPU).

Each stage's estimate is the sum of its resident parts (weights, optimizer state: parameter bytes of the models
built from their configs) and a measured part: the peak of live tensors (LiveBytesMeter) while the stage's own
code runs its largest step on meta tensors, with attention modelled as a fused kernel. Counted per stage:

- rollout: DiT + text encoder + VAE weights; the KV cache of the last chunk of a batch-N continuation (the
  largest: the prefix frames shared, the rest per continuation, the window applied) and one batch-N forward of
  that chunk; the first continuation chunk's recorded trajectory.
- update_executor: the same weights; LoRA parameters, AdamW's two moments, the EMA copy and one more copy for
  the optimizer step; the rebuilt prefix caches (policy and reference) and one micro-batch's forward with grad,
  reference forward and backward (saved activations also reported alone, from saved_tensors_hooks).
- vae_decode: the weights and the decode of the N continuations' latents at once (as the rollout stage does).
- plan (local sampling): the planner's weights and a forward over batch_size sequences of prompt + new tokens
  with the KV cache kept (the prefill of the longest sequence bounds the decode steps).
- update_planner: the planner's weights, its LoRA, grads and AdamW moments, and one micro-batch forward +
  backward with the fp32 log-softmax of the logits.
A fixed `CUDA_OVERHEAD` (CUDA context, allocator slack) is added to every stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from plotline.config import PlotlineConfig
from plotline.memory.live import LiveBytesMeter
from plotline.memory.meta import on_meta, planner_config, umt5_xxl_config, wan_vae_config
from plotline.memory.saved import SavedBytesMeter

if TYPE_CHECKING:
    from plotline.executor.backbones import Backbone
    from plotline.executor.denoise_loop import ChunkGenerator

CUDA_OVERHEAD = 2_000_000_000
"""Bytes added to every stage for the CUDA context, cuBLAS workspaces and allocator fragmentation."""
PLANNER_PROMPT_TOKENS = 512
"""Chat-prompt length assumed for the planner (the instruction template is a few hundred tokens)."""
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class StageMemory:
    """One stage's estimated peak: named parts in bytes (they add up to `total`) and notes."""

    stage: str
    parts: dict[str, int] = field(default_factory=dict)
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Sum of the parts (bytes)."""
        return sum(self.parts.values())

    def fits(self, capacity_bytes: float) -> bool:
        """Whether the estimated peak is at most `capacity_bytes`."""
        return self.total <= capacity_bytes


def param_bytes(module: nn.Module, trainable_only: bool = False) -> int:
    """Bytes of a module's distinct parameters and buffers (trainable parameters only when asked)."""
    seen: set[int] = set()
    total = 0
    tensors: list[torch.Tensor] = [p for p in module.parameters() if p.requires_grad or not trainable_only]
    if not trainable_only:
        tensors += list(module.buffers())
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


# ----- executor models on meta -------------------------------------------------------------------------------
def _meta_umt5(dtype):
    from transformers import UMT5EncoderModel

    with on_meta():
        return UMT5EncoderModel(umt5_xxl_config()).to(dtype)


def _meta_wan_vae(dtype):
    from diffusers import AutoencoderKLWan

    from plotline.executor.vae import WanDecoder

    with on_meta():
        # a diffusers model is an nn.Module, but mypy does not see Module.to through diffusers' class decorators
        return WanDecoder(AutoencoderKLWan(**wan_vae_config()).to(dtype))  # type: ignore[attr-defined]


META_TEXT_ENCODERS = {"umt5": _meta_umt5}
"""Text encoders too large to build for real, built on meta from published configs (others: the registry's)."""
META_DECODERS = {"wan": _meta_wan_vae}
"""Decoders built on meta from published configs (others: the executor's registry, which builds small ones)."""


class _MetaNoise:
    """Stands in for ChunkNoise: meta tensors of the right shape and the model's dtype."""

    def __init__(self, shape, num_steps, dtype):
        self.shape, self.num_steps, self.dtype = tuple(shape), num_steps, dtype

    def batch(self, samples, chunk, dtype=None, device=None):
        return torch.empty((self.num_steps, len(samples), *self.shape), device="meta", dtype=self.dtype)


@dataclass
class _ExecutorParts:
    backbone: Backbone
    model: nn.Module
    generator: ChunkGenerator
    weights: dict[str, int]
    shape: tuple[int, int, int, int]
    dtype: torch.dtype


def _executor_on_meta(config: PlotlineConfig) -> _ExecutorParts:
    from plotline.executor.backbones import get_backbone
    from plotline.executor.executor import DECODERS, TEXT_ENCODERS, build_generator, resolve_dtype
    from plotline.executor.model import CausalWanDiT

    cfg = config.executor
    bb = get_backbone(cfg.backbone)
    dtype = resolve_dtype(cfg.dtype, torch.device("cuda"))  # the estimate is for a GPU: `auto` means bf16
    with on_meta():
        model = CausalWanDiT(bb.arch).to(dtype).requires_grad_(False)
    text = (
        META_TEXT_ENCODERS[bb.text_encoder](dtype)
        if bb.text_encoder in META_TEXT_ENCODERS
        else TEXT_ENCODERS[bb.text_encoder](bb, cfg, dtype)
    )
    if bb.vae in META_DECODERS:
        decoder = META_DECODERS[bb.vae](dtype)
    else:
        decoder = DECODERS[bb.vae](bb, cfg, dtype).to(dtype)
    gen = build_generator(model, bb, cfg, config.video)
    h = cfg.latent_height or bb.latent_size[0]
    w = cfg.latent_width or bb.latent_size[1]
    weights = {
        "DiT weights": param_bytes(model),
        "text encoder weights": param_bytes(text),
        "VAE weights": param_bytes(decoder),
    }
    return _ExecutorParts(bb, model, gen, weights, (bb.arch.in_dim, config.video.frames_per_chunk, h, w), dtype)


def _contexts(ex: _ExecutorParts, count: int) -> list[torch.Tensor]:
    a = ex.backbone.arch
    return [torch.empty(1, a.text_len, a.text_dim, device="meta", dtype=ex.dtype) for _ in range(count)]


def _starts(config: PlotlineConfig, k: int) -> list[int]:
    from plotline.executor.prompts import span_starts

    v = config.video
    return span_starts(v.target_latent_frames, v.latent_frames_per_step, k)


def estimate_rollout(config: PlotlineConfig, k: int) -> StageMemory:
    """Rollout of one plan at switch frame k: weights + KV cache + the last chunk's batch-N forward."""
    from plotline.executor.kv_cache import KVCache
    from plotline.executor.prompts import frame_prompt_index
    from plotline.executor.rollout import _expand

    ex = _executor_on_meta(config)
    n, v = config.executor.num_continuations, config.video
    c, f, h, w = ex.shape
    a = ex.backbone.arch
    tokens = (h // a.patch_size[1]) * (w // a.patch_size[2])
    starts = _starts(config, k)
    contexts = _contexts(ex, len(starts))
    last = ((v.target_latent_frames - 1) // f) * f  # first frame of the last chunk
    gen, model = ex.generator, ex.model
    with torch.no_grad(), on_meta(), LiveBytesMeter() as meter:
        cache = KVCache(a.num_layers, gen.window, max_frames=k)  # sized as generate_prefix / fork_rollout do
        kv = lambda b, frames: torch.empty(b, frames * tokens, a.num_heads, a.head_dim, dtype=ex.dtype)  # noqa: E731
        for layer in range(a.num_layers):  # prefix frames once (batch 1), then every continuation frame (batch N)
            for s in range(0, k, f):
                cache.write(layer, s, kv(1, min(f, k - s)), kv(1, min(f, k - s)), min(f, k - s))
        cache = cache.fork(n, max_frames=v.target_latent_frames)
        for layer in range(a.num_layers):
            for s in range(k, last, f):
                cache.write(layer, s, kv(n, f), kv(n, f), f)
        traj = [torch.empty(n, len(gen.sigmas), c, f, h, w, dtype=ex.dtype) for _ in range(2)]  # states, velocities
        ctx = _expand(contexts[frame_prompt_index(starts, last)], n)
        x = torch.empty(n, c, v.target_latent_frames - last, h, w, dtype=ex.dtype)
        t = torch.zeros(n, x.shape[2])
        model(x, t, ctx, cache=cache, start_frame=last)
        del traj
    return StageMemory(
        f"rollout (k={k})",
        {**ex.weights, "KV cache + activations (measured)": meter.peak, "CUDA context + slack": CUDA_OVERHEAD},
    )


def estimate_vae_decode(config: PlotlineConfig) -> StageMemory:
    """Decode of the N continuations' full latent videos in one batch (weights of all executor models resident)."""
    ex = _executor_on_meta(config)
    n, (c, _, h, w) = config.executor.num_continuations, ex.shape
    decoder = (META_DECODERS.get(ex.backbone.vae) or (lambda d: None))(ex.dtype)
    measured = 0
    if decoder is not None:
        with torch.no_grad(), on_meta(), LiveBytesMeter() as meter:
            decoder(torch.empty(n, c, config.video.target_latent_frames, h, w, dtype=ex.dtype))
        measured = meter.peak
    return StageMemory(
        "vae_decode", {**ex.weights, "decode activations (measured)": measured, "CUDA context + slack": CUDA_OVERHEAD}
    )


def estimate_update_executor(config: PlotlineConfig, k: int) -> StageMemory:
    """One micro-batch of one transition of the Flow-GRPO update (the update's repeating peak) at switch frame k.

    The saved activations are also reported alone (saved_tensors_hooks). With gradient checkpointing those hooks
    see only what is saved outside the checkpointed blocks (each block's inputs are held by the checkpoint and
    its activations exist only while it is recomputed); the live-bytes peak counts all of it."""
    from plotline.executor.lora import attach_lora
    from plotline.rl.flow_grpo import clipped_policy_loss
    from plotline.rl.flow_grpo_trainer import FlowGRPOTrainer, TransitionGroup

    rl = config.rl.executor
    ex = _executor_on_meta(config)
    n = config.executor.num_continuations
    b = min(rl.micro_batch_size or n, n)
    c, f, h, w = ex.shape
    with on_meta():
        peft = attach_lora(ex.model, rl.lora_rank, rl.lora_alpha, rl.lora_targets)
    trainer = FlowGRPOTrainer(peft, ex.generator, rl)
    lora = param_bytes(peft, trainable_only=True)
    steps = len(ex.generator.sigmas)
    starts = _starts(config, k)
    with on_meta():
        g = TransitionGroup(
            [f"s{i}" for i in range(n)],
            torch.empty(1, c, k, h, w, dtype=ex.dtype),
            _contexts(ex, len(starts)),
            starts,
            torch.empty(n, steps, c, f, h, w, dtype=ex.dtype),
            torch.empty(n, steps, c, f, h, w, dtype=ex.dtype),
            torch.empty(n, steps - 1),
            ex.generator.sigmas.clone(),
            torch.empty(n),
        )
    with on_meta(), LiveBytesMeter() as meter:
        cache, ref = trainer._caches(g)
        with SavedBytesMeter(exclude=peft.parameters()) as saved:
            terms = trainer.transition_terms(g, 0, slice(0, b), cache, ref)
            loss = clipped_policy_loss(terms["ratio"], g.advantages[:b], rl.clip).mean() + rl.beta * terms["kl"].mean()
        loss.backward()
    return StageMemory(
        f"update_executor (k={k}, micro-batch {b})",
        {
            **ex.weights,
            "LoRA params": lora,
            "AdamW moments": 2 * lora,
            "EMA copy": lora if rl.use_ema else 0,
            "optimizer step transient": lora,
            "prefix caches + activations + grads (measured)": meter.peak,
            "CUDA context + slack": CUDA_OVERHEAD,
        },
        notes={
            "saved activations (saved_tensors_hooks)": saved.peak,
            "gradient checkpointing": float(rl.gradient_checkpointing),
        },
    )


# ----- planner ------------------------------------------------------------------------------------------------
def _planner_on_meta(config: PlotlineConfig):
    from transformers import AutoModelForCausalLM

    dtype = _DTYPES[config.planner.dtype]
    with on_meta():
        model = AutoModelForCausalLM.from_config(planner_config(config.planner.base_model), dtype=dtype)
    return model.requires_grad_(False), dtype


def estimate_plan(config: PlotlineConfig, prompt_tokens: int = PLANNER_PROMPT_TOKENS) -> StageMemory:
    """Local planner sampling: a batch of `planner.batch_size` sequences of prompt + max_new_tokens."""
    model, _ = _planner_on_meta(config)
    p = config.planner
    seq = prompt_tokens + p.max_new_tokens
    with torch.no_grad(), on_meta(), LiveBytesMeter() as meter:
        ids = torch.zeros(p.batch_size, seq, dtype=torch.long)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        del out
    return StageMemory(
        "plan (planner sampling)",
        {
            "planner weights": param_bytes(model),
            "KV cache + activations (measured)": meter.peak,
            "CUDA context + slack": CUDA_OVERHEAD,
        },
    )


def estimate_update_planner(config: PlotlineConfig, prompt_tokens: int = PLANNER_PROMPT_TOKENS) -> StageMemory:
    """One GSPO micro-batch: forward + backward over prompt + completion with the planner's LoRA."""
    from peft import get_peft_model

    from plotline.planner.model import _lora_config

    model, _ = _planner_on_meta(config)
    weights = param_bytes(model)
    with on_meta():
        peft = get_peft_model(model, _lora_config(config.planner.lora))
    lora = param_bytes(peft, trainable_only=True)
    mb = config.rl.planner.micro_batch_size
    seq = prompt_tokens + config.planner.max_new_tokens
    with on_meta(), LiveBytesMeter() as meter:
        ids = torch.zeros(mb, seq, dtype=torch.long)
        logits = peft(input_ids=ids, use_cache=True).logits  # cache on: without one transformers reads position values
        logp = torch.log_softmax(logits.float(), -1).gather(-1, ids[..., None]).squeeze(-1)
        del logits
        logp.mean().backward()
    return StageMemory(
        f"update_planner (micro-batch {mb})",
        {
            "planner weights": weights,
            "LoRA params": lora,
            "AdamW moments": 2 * lora,
            "optimizer step transient": lora,
            "activations + grads (measured)": meter.peak,
            "CUDA context + slack": CUDA_OVERHEAD,
        },
    )


STAGES = {
    "plan": lambda cfg, k, tokens: estimate_plan(cfg, tokens),
    "rollout": lambda cfg, k, tokens: estimate_rollout(cfg, k),
    "vae_decode": lambda cfg, k, tokens: estimate_vae_decode(cfg),
    "update_executor": lambda cfg, k, tokens: estimate_update_executor(cfg, k),
    "update_planner": lambda cfg, k, tokens: estimate_update_planner(cfg, tokens),
}
"""Heavy stages and their estimators (called with config, switch frame k, planner prompt tokens)."""
PER_SWITCH = {"rollout", "update_executor"}
"""Stages estimated once per switch frame k."""


def estimate_all(
    config: PlotlineConfig,
    switch_frames: list[int] | None = None,
    prompt_tokens: int = PLANNER_PROMPT_TOKENS,
    stages: list[str] | None = None,
) -> list[StageMemory]:
    """The estimates of `stages` (default: all heavy stages, in pipeline order); the rollout and executor update
    once per switch frame k (default: the config's `video.switch_frames`)."""
    names = list(stages or STAGES)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise KeyError(f"unknown stage(s) {', '.join(unknown)} for the memory estimate; known: {', '.join(STAGES)}")
    ks = list(switch_frames or config.video.switch_frames)
    out = []
    for name in [n for n in STAGES if n in names]:
        for k in ks if name in PER_SWITCH else ks[:1]:
            out.append(STAGES[name](config, k, prompt_tokens))
    return out
