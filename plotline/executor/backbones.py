"""Backbone registry: each name fixes the DiT shape, its KV-cache window, prompt-switch behaviour, and which
text encoder / VAE / checkpoint format it uses."""
from __future__ import annotations

from dataclasses import dataclass, field

from plotline.executor.arch import TINY, WAN_1_3B, DiTArch
from plotline.executor.kv_cache import AttentionWindow


@dataclass(frozen=True)
class Backbone:
    """A named executor backbone."""

    name: str
    arch: DiTArch
    window: AttentionWindow
    recache_on_switch: bool
    checkpoint_format: str
    text_encoder: str
    vae: str
    latent_size: tuple[int, int]
    notes: str = ""
    extra: dict = field(default_factory=dict)


BACKBONES: dict[str, Backbone] = {}


def register_backbone(backbone: Backbone) -> Backbone:
    """Add a backbone to the registry (a name may be registered once)."""
    if backbone.name in BACKBONES:
        raise ValueError(f"backbone {backbone.name!r} is already registered")
    BACKBONES[backbone.name] = backbone
    return backbone


def get_backbone(name: str) -> Backbone:
    """The registered backbone `name`, or a KeyError listing the known names."""
    if name not in BACKBONES:
        raise KeyError(f"unknown executor backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


register_backbone(Backbone(
    name="tiny", arch=TINY, window=AttentionWindow(sink_frames=3, window_frames=9), recache_on_switch=True,
    checkpoint_format="wan", text_encoder="tiny_umt5", vae="identity", latent_size=(8, 8),
    notes="CPU-sized DiT of the same code; LongLive-style sink+window and re-cache so tests cover both paths."))
register_backbone(Backbone(
    name="self_forcing", arch=WAN_1_3B, window=AttentionWindow(sink_frames=1, window_frames=21),
    recache_on_switch=False, checkpoint_format="self_forcing", text_encoder="umt5", vae="wan",
    latent_size=(60, 104),
    notes="Self-Forcing (Wan2.1-T2V-1.3B, chunks of 3): first frame kept + recent frames; a 21-frame video "
          "is fully visible."))
register_backbone(Backbone(
    name="longlive", arch=WAN_1_3B, window=AttentionWindow(sink_frames=3, window_frames=12),
    recache_on_switch=True, checkpoint_format="longlive", text_encoder="umt5", vae="wan", latent_size=(60, 104),
    notes="LongLive (commit 2462895, 1.3B): frame sink 3, local window 12, KV re-cache at a prompt switch."))

