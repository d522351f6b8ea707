"""Backbone registry: each name fixes the DiT shape, its KV-cache window, prompt-switch behaviour, and which
text encoder / VAE / checkpoint format it uses."""

from __future__ import annotations

import importlib
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
    recache_mode: str = "chunked"
    """How a re-cache re-encodes the recent frames (generate.RECACHE_MODES): `chunked` or `one_pass` (LongLive)."""


BACKBONES: dict[str, Backbone] = {}

PROVIDED: dict[str, str] = {"shapes": "plotline.world.backbone"}
"""Backbones declared here and defined in another package: name -> module whose `register()` adds the backbone
(with its text encoder and decoder) the first time the name is looked up. Importing that module registers nothing."""


def register_backbone(backbone: Backbone) -> Backbone:
    """Add a backbone to the registry (a name may be registered once)."""
    if backbone.name in BACKBONES:
        raise ValueError(f"backbone {backbone.name!r} is already registered")
    BACKBONES[backbone.name] = backbone
    return backbone


def get_backbone(name: str) -> Backbone:
    """The backbone `name` (a provided one is registered on first use), or a KeyError listing the known names."""
    if name not in BACKBONES and name in PROVIDED:
        importlib.import_module(PROVIDED[name]).register()
    if name not in BACKBONES:
        raise KeyError(f"unknown executor backbone {name!r}; known: {', '.join(backbone_names())}")
    return BACKBONES[name]


def backbone_names() -> list[str]:
    """Every backbone name: the ones registered here and the provided ones."""
    return sorted(set(BACKBONES) | set(PROVIDED))


register_backbone(
    Backbone(
        name="tiny",
        arch=TINY,
        window=AttentionWindow(local_attn_size=12, sink_size=3),
        recache_on_switch=True,
        checkpoint_format="wan",
        text_encoder="tiny_umt5",
        vae="identity",
        latent_size=(8, 8),
        notes="CPU-sized DiT of the same code; LongLive-style sink + window (12 frames incl. a 3-frame sink, the frames "
        "the former sink 3 + window 9 saw) and re-cache so tests cover both paths. Keeps the chunk-by-chunk "
        "re-cache its tests and existing runs were made with.",
        recache_mode="chunked",
    )
)
register_backbone(
    Backbone(
        name="self_forcing",
        arch=WAN_1_3B,
        window=AttentionWindow(local_attn_size=-1, sink_size=0),
        recache_on_switch=False,
        checkpoint_format="self_forcing",
        text_encoder="umt5",
        vae="wan",
        latent_size=(60, 104),
        notes="Self-Forcing (Wan2.1-T2V-1.3B, chunks of 3): global attention (its default local_attn_size = -1, "
        "sink_size = 0).",
    )
)
register_backbone(
    Backbone(
        name="longlive",
        arch=WAN_1_3B,
        window=AttentionWindow(local_attn_size=12, sink_size=3),
        recache_on_switch=True,
        checkpoint_format="longlive",
        text_encoder="umt5",
        vae="wan",
        latent_size=(60, 104),
        notes="LongLive (commit 2462895, 1.3B): local_attn_size 12 counting a 3-frame sink, one-pass KV re-cache of "
        "the recent frames at a prompt switch (global_sink: the sink keeps its K/V).",
        recache_mode="one_pass",
    )
)
