"""Assemble an executor from config: backbone DiT (+ checkpoint), text encoder, decoder, sampler schedule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from plotline.executor.backbones import Backbone, get_backbone
from plotline.executor.checkpoint import load_checkpoint
from plotline.executor.config import ExecutorConfig
from plotline.executor.denoise_loop import ChunkGenerator
from plotline.executor.fused import fused_glue_enabled, set_fused_glue
from plotline.executor.kv_cache import AttentionWindow
from plotline.executor.model import CausalWanDiT
from plotline.executor.noise import ChunkNoise
from plotline.executor.schedule import warped_sigmas
from plotline.executor.text_encoder import TextEncoder, tiny_umt5, umt5_from_path
from plotline.executor.vae import IdentityDecoder, tiny_wan_vae, wan_vae_from_path
from plotline.paths import require_path
from plotline.video import VideoConfig

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _text_umt5(backbone: Backbone, cfg: ExecutorConfig, dtype) -> TextEncoder:
    require_path(
        cfg.text_encoder_path, "executor.text_encoder_path", f"a local UMT5 folder (backbone {backbone.name!r})", "dir"
    )
    return umt5_from_path(cfg.text_encoder_path, backbone.arch.text_len, dtype)


TEXT_ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "umt5": _text_umt5,
    "tiny_umt5": lambda bb, cfg, dtype: tiny_umt5(bb.arch.text_dim, bb.arch.text_len, seed=cfg.init_seed + 1),
}
"""Text-encoder builders by name (backbone.text_encoder)."""


def _vae_wan(backbone: Backbone, cfg: ExecutorConfig, dtype) -> nn.Module:
    require_path(
        cfg.vae_path, "executor.vae_path", f"a local AutoencoderKLWan folder (backbone {backbone.name!r})", "dir"
    )
    return wan_vae_from_path(cfg.vae_path, dtype)


DECODERS: dict[str, Callable[..., nn.Module]] = {
    "wan": _vae_wan,
    "tiny_wan": lambda bb, cfg, dtype: tiny_wan_vae(bb.arch.out_dim, seed=cfg.init_seed + 2),
    "identity": lambda bb, cfg, dtype: IdentityDecoder(),
}
"""Latent decoders by name (backbone.vae)."""


@dataclass
class Executor:
    """Everything needed to roll out: the DiT, its generator, text encoder, decoder and geometry."""

    backbone: Backbone
    config: ExecutorConfig
    video: VideoConfig
    model: CausalWanDiT
    generator: ChunkGenerator
    text_encoder: TextEncoder
    decoder: nn.Module
    device: torch.device

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(C, chunk frames, h, w) of one chunk's latents."""
        h = self.config.latent_height or self.backbone.latent_size[0]
        w = self.config.latent_width or self.backbone.latent_size[1]
        return self.backbone.arch.in_dim, self.video.frames_per_chunk, h, w

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        """One [1, Lt, text_dim] context per text (in the DiT's dtype, on its device)."""
        dtype = next(self.model.parameters()).dtype
        with torch.no_grad():
            embs = self.text_encoder(list(texts))
        return [e[None].to(self.device, dtype) for e in embs]

    def noise(self, seed: int) -> ChunkNoise:
        """Per-(sample, chunk) noise source for this geometry and step count."""
        return ChunkNoise(seed, self.latent_shape, len(self.generator.sigmas))


def resolve_window(backbone: Backbone, cfg: ExecutorConfig) -> AttentionWindow:
    """The backbone's local_attn_size/sink_size, with config overrides applied."""
    size = backbone.window.local_attn_size if cfg.local_attn_size is None else cfg.local_attn_size
    sink = backbone.window.sink_size if cfg.sink_size is None else cfg.sink_size
    try:
        return AttentionWindow(local_attn_size=size, sink_size=sink)
    except ValueError as err:
        raise ValueError(f"executor.local_attn_size={size} / executor.sink_size={sink}: {err}") from None


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The DiT dtype named by executor.dtype; `auto` = bfloat16 on CUDA, float32 elsewhere."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[name]


def build_model(backbone: Backbone, cfg: ExecutorConfig) -> CausalWanDiT:
    """The DiT for `backbone`: seeded random init, then the configured checkpoint loaded strictly."""
    if cfg.checkpoint:  # before building the (large) model
        require_path(cfg.checkpoint, "executor.checkpoint", f"the local {backbone.checkpoint_format} checkpoint")
        if cfg.lora_checkpoint:
            require_path(cfg.lora_checkpoint, "executor.lora_checkpoint", "the local released LoRA checkpoint")
    with torch.random.fork_rng():
        torch.manual_seed(cfg.init_seed)
        model = CausalWanDiT(backbone.arch)
    if cfg.checkpoint:
        load_checkpoint(
            model, backbone.checkpoint_format, cfg.checkpoint, lora_path=cfg.lora_checkpoint, lora_alpha=cfg.lora_alpha
        )
    elif backbone.name != "tiny":
        raise ValueError(
            f"backbone {backbone.name!r} needs executor.checkpoint (local path); only `tiny` may "
            "start from random weights"
        )
    return model


def build_executor(cfg: ExecutorConfig, video: VideoConfig, device: str | None = None) -> Executor:
    """Build the executor named by cfg.backbone for the video geometry."""
    backbone = get_backbone(cfg.backbone)
    dev = torch.device(
        device or cfg.device if (device or cfg.device) != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    dtype = resolve_dtype(cfg.dtype, dev)
    model = build_model(backbone, cfg).to(dev, dtype).eval().requires_grad_(False)
    apply_compile_switch(model, cfg.compile, dev)
    text = TEXT_ENCODERS[backbone.text_encoder](backbone, cfg, dtype).to(dev)
    decoder = DECODERS[backbone.vae](backbone, cfg, dtype).to(dev)
    gen = build_generator(model, backbone, cfg, video)
    return Executor(backbone, cfg, video, model, gen, text, decoder, dev)


def apply_compile_switch(model: CausalWanDiT, switch: bool, device: torch.device) -> bool:
    """Apply executor.compile to the model's blocks (see plotline.executor.fused); True when the compiled glue is
    in use. On CPU the switch is ignored and logged."""
    if switch and not fused_glue_enabled(switch, device):
        log.info("executor.compile is ignored on %s (the compiled glue is used on CUDA only)", device)
    return set_fused_glue(model, fused_glue_enabled(switch, device)).compiled


def build_generator(model: CausalWanDiT, backbone: Backbone, cfg: ExecutorConfig, video: VideoConfig) -> ChunkGenerator:
    """The chunk generator over `model`: the schedule, window and prompt-switch behaviour of the backbone, with the
    config's overrides applied."""
    recache = backbone.recache_on_switch if cfg.recache_on_switch is None else cfg.recache_on_switch
    mode = backbone.recache_mode if cfg.recache_mode is None else cfg.recache_mode
    return ChunkGenerator(
        model,
        warped_sigmas(cfg.denoising_steps, cfg.shift),
        resolve_window(backbone, cfg),
        video.frames_per_chunk,
        recache,
        cfg.context_timestep,
        recache_mode=mode,
    )
