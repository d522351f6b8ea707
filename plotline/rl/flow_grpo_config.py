"""Flow-GRPO hyperparameters (executor update). Defaults are the paper's."""

from __future__ import annotations

from pydantic import Field

from plotline._base import Section, placement


class FlowGRPOConfig(Section):
    """Flow-GRPO with RatioNorm on the transition chunk."""

    clip: float = Field(1e-5, gt=0)
    """ε_e: clip range of the per-step likelihood ratio."""
    beta: float = Field(5e-4, ge=0)
    """β_e: weight of the KL term mean((v_θ − v_ref)²) to the adapter-disabled reference, applied every update."""
    adv_clip: float = Field(2.0, gt=0)
    """Advantages are clipped to [−adv_clip, adv_clip] before the loss."""
    learning_rate: float = Field(1e-5, gt=0)
    """AdamW learning rate of the LoRA parameters."""
    weight_decay: float = Field(1e-4, ge=0)
    """AdamW weight decay."""
    adam_betas: tuple[float, float] = (0.9, 0.999)
    """AdamW (β1, β2)."""
    adam_eps: float = Field(1e-8, gt=0)
    """AdamW ε."""
    lora_rank: int = Field(256, ge=1)
    """Rank r of the RL LoRA on the DiT."""
    lora_alpha: float = Field(256.0, gt=0)
    """α of the RL LoRA (scale α/r)."""
    lora_targets: list[str] = Field(default_factory=lambda: ["q", "k", "v", "o", "ffn.0", "ffn.2"])
    """Module-name suffixes inside each DiT block that receive the LoRA (self- and cross-attention, FFN)."""
    train_transitions: int = Field(3, ge=1)
    """Denoising transitions of the transition chunk that are trained (the first 3 of 4 in the paper)."""
    micro_batch_size: int | None = Field(None, ge=1)
    """Continuations per forward/backward of the update: each transition of a group is back-propagated in
    micro-batches of this many of its N continuations (each scaled by its share of the group's mean), so the
    saved activations scale with this size, not with N. None = all N at once."""
    gradient_checkpointing: bool = False
    """Recompute each DiT block's activations in the backward pass (torch.utils.checkpoint, non-reentrant)
    instead of saving them: about one extra forward per trained transition for a fraction of the memory."""
    grad_accum_steps: int = Field(1, ge=1)
    """Groups (plans) whose gradients are accumulated before one optimizer step."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient-norm clip applied before every optimizer step."""
    inner_epochs: int = Field(1, ge=1)
    """Passes over the rollouts per update stage."""
    ema_decay: float = Field(0.9, ge=0, lt=1)
    """EMA decay of the LoRA weights (ema ← d·ema + (1−d)·θ after each step)."""
    num_processes: int = placement(1, ge=1)
    """Data-parallel processes of the update_executor stage. 1: the stage trains in its own process (CPU or one
    GPU). N > 1: the stage runs `accelerate launch` with N ranks (one per GPU; N gloo CPU processes when
    `executor.device` is `cpu` or no GPU is visible). Each window of `grad_accum_steps` groups is shared
    round-robin across the ranks and their gradients are summed before every optimizer step, so the update
    equals the single-process one over the same groups; keep `grad_accum_steps` a multiple of N so no rank
    idles."""
    use_ema: bool = True
    """Also save the EMA of the LoRA weights (`adapter_ema`, for evaluation); rollouts sample with the current
    weights (`adapter`) so that recomputed log-probs are on-policy."""
