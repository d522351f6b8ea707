"""The shapes world's executor backbone `shapes`: a small config of the causal Wan DiT (the same code as the
real backbones), the world's frozen event text encoder, and the world-state decoder (latent [20, F, 1, 1] → 32×32
RGB frames drawn by the world renderer; see plotline.world.state_latent).

`register()` adds the backbone, the `world_events` text encoder and the `world_state` decoder to the executor's
registries; the executor's backbone registry declares `shapes` as provided by this module and calls it the first
time the name is looked up (importing this module registers nothing).
"""

from __future__ import annotations

from plotline.executor.arch import DiTArch
from plotline.executor.backbones import BACKBONES, Backbone, register_backbone
from plotline.executor.executor import DECODERS, TEXT_ENCODERS
from plotline.executor.kv_cache import AttentionWindow
from plotline.world.state_latent import CHANNELS, FRAME_SIZE, WorldStateDecoder
from plotline.world.text_encoder import MAX_TOKENS, WorldTextEncoder, feature_dim

WORLD_BACKBONE = "shapes"
"""Registry name of the world's executor backbone (`executor.backbone: shapes`)."""
WORLD_TEXT_ENCODER = "world_events"
"""Registry name of the world's frozen text encoder."""
WORLD_DECODER = "world_state"
"""Registry name of the world's latent decoder."""

WORLD_ARCH = DiTArch(
    in_dim=CHANNELS,
    out_dim=CHANNELS,
    dim=64,
    ffn_dim=128,
    freq_dim=32,
    text_dim=feature_dim(),
    text_len=MAX_TOKENS,
    num_heads=4,
    num_layers=2,
    patch_size=(1, 1, 1),
)
"""2 layers, dim 64, 4 heads; one token per frame (latent 1×1)."""

WORLD_WINDOW = AttentionWindow(local_attn_size=-1, sink_size=0)
"""Every earlier frame is visible (world videos are a few chunks long)."""


def register() -> None:
    """Register the `shapes` backbone, its text encoder and its decoder (idempotent)."""
    TEXT_ENCODERS.setdefault(WORLD_TEXT_ENCODER, lambda bb, cfg, dtype: WorldTextEncoder(bb.arch.text_dim))
    DECODERS.setdefault(WORLD_DECODER, lambda bb, cfg, dtype: WorldStateDecoder(FRAME_SIZE))
    if WORLD_BACKBONE not in BACKBONES:
        register_backbone(
            Backbone(
                name=WORLD_BACKBONE,
                arch=WORLD_ARCH,
                window=WORLD_WINDOW,
                recache_on_switch=False,
                checkpoint_format="wan",
                text_encoder=WORLD_TEXT_ENCODER,
                vae=WORLD_DECODER,
                latent_size=(1, 1),
                notes="Shapes world: CPU-sized DiT over object-state latents, frozen event text encoder, the world "
                "renderer as decoder (32×32 frames); starts from the bootstrap stage's checkpoint.",
            )
        )
