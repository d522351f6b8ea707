"""Executor configuration (causal AR video diffusion). Video geometry (K, L, chunk, switch points) lives in
plotline.video.VideoConfig and is not repeated here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from plotline._base import Section, placement


class ExecutorConfig(Section):
    """AR diffusion executor that renders a video chunk by chunk under step prompts."""

    backbone: str = "tiny"
    """Backbone name from the backbone registry (`tiny`, `self_forcing`, `longlive`)."""
    num_continuations: int = Field(4, ge=1)
    """N: continuations generated from each shared prefix (the executor's GRPO group size)."""
    checkpoint: str | None = None
    """Local path of the DiT weights in the backbone's checkpoint format; None = seeded random init (tiny only)."""
    lora_checkpoint: str | None = None
    """LongLive only: local path of the released LoRA (`generator_lora`), merged into the base at load time."""
    lora_alpha: float | None = None
    """α of the released LoRA when merging (None: α = r, i.e. LongLive's r 256 / α 256)."""
    text_encoder_path: str | None = None
    """Local folder of the UMT5 encoder + tokenizer (e.g. a Wan2.1-T2V-1.3B-Diffusers checkout)."""
    vae_path: str | None = None
    """Local folder of the AutoencoderKLWan weights (its `vae` subfolder is used when present)."""
    denoising_steps: list[int] = Field(default_factory=lambda: [1000, 750, 500, 250])
    """Training timesteps of the few-step sampler, strictly decreasing, warped by `shift`."""
    shift: float = Field(5.0, gt=0)
    """Flow-matching timestep shift: σ = shift·s / (1 + (shift−1)·s)."""
    context_timestep: float = Field(0.0, ge=0)
    """Timestep of the clean pass that writes a finished chunk's K/V into the cache (0 = clean)."""
    local_attn_size: int | None = Field(None, ge=-1)
    """Frames a chunk attends to in all, counting the sink and the chunk itself (Self-Forcing/LongLive's
    `local_attn_size`); -1 = global attention; None = the backbone's setting."""
    sink_size: int | None = Field(None, ge=0)
    """First frames of the video kept when the window evicts older ones (upstream's `sink_size`, part of
    local_attn_size); None = the backbone's setting."""
    recache_on_switch: bool | None = None
    """Re-run the recent window under the new prompt at a switch (LongLive); None = the backbone's setting."""
    recache_mode: Literal["chunked", "one_pass"] | None = None
    """How the re-cache runs: `one_pass` = LongLive's single forward over the most recent min(local_attn_size, k)
    frames (dense attention among them, sink kept); `chunked` = chunk by chunk, each chunk block-causal;
    None = the backbone's setting."""
    latent_height: int | None = Field(None, ge=2)
    """Latent height h (None = backbone default; 60 for 480p Wan)."""
    latent_width: int | None = Field(None, ge=2)
    """Latent width w (None = backbone default; 104 for 832-wide Wan)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Parameter/activation dtype of the DiT: `auto` = bfloat16 on CUDA, float32 on CPU. Noise is drawn in fp32
    and cast at the model boundary; norms compute in fp32; x̂0, the sampler step and log-probs stay fp32."""
    device: str = "auto"
    """Torch device; `auto` picks cuda when available, else cpu."""
    compile: bool = False
    """Fuse the DiT blocks' element-wise glue (fp32 LayerNorm + AdaLN modulation, gated residuals) with
    torch.compile (plotline.executor.fused). Applies on CUDA only: on CPU it is ignored with a log line. If
    inductor cannot compile, the eager glue is kept and a warning names the cause. Outputs agree with the eager
    path to fp32 rounding."""
    init_seed: int = 0
    """Seed of the random initialisation used when no checkpoint is given."""
    num_shards: int = placement(1, ge=1)
    """Processes the rollout stage splits the plans over, by instruction (all plans of an instruction in one
    shard). 1: roll out in the stage's own process. N > 1: N concurrent worker processes, each pinned to one
    GPU (`shard_devices`) or to the CPU; their outputs are merged in plan order, identical to an unsharded
    rollout with the same seeds."""
    shard_devices: list[int] | None = placement(None)
    """CUDA device indices the rollout shards are pinned to, round-robin (None: every visible GPU). Ignored, and
    every shard runs on the CPU, when `device` is `cpu` or no GPU is visible."""
    decode_videos: bool = True
    """Decode every continuation to an mp4 in the rollout stage."""
    encoder_workers: int = placement(4, ge=0)
    """Threads encoding the mp4s of plan i while plan i+1 rolls out (each drives its own ffmpeg process). 0: each
    plan's videos are encoded in line before the next plan starts. The bytes are the same either way."""
    fps: int = Field(16, ge=1)
    """Frame rate of written videos."""
    sampled_frames: int = Field(8, ge=1)
    """Frames sampled uniformly over the whole video (first to last frame) and stored for the judges."""

    @field_validator("denoising_steps")
    @classmethod
    def _decreasing(cls, v: list[int]) -> list[int]:
        if len(v) < 2 or any(b >= a for a, b in zip(v, v[1:])) or v[-1] <= 0 or v[0] > 1000:
            raise ValueError(f"denoising_steps must be ≥2 strictly decreasing timesteps in (0, 1000], got {v}")
        return v
