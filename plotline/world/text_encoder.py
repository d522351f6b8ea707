"""The shapes world's frozen text encoder: a tokenizer built from the world vocabulary (the action registry's
phrases, shape and colour words, via plotline.world.parse) and fixed one-hot token features.

A prompt becomes one token per event phrase, in textual order; a prompt without any event phrase becomes one
subject-only token. Token i carries [slot i | action | shape | colour] one-hot features and the action's effect
(Δx, Δy in moves, Δlog-side in grows, Δopacity), read off the action registry by applying the action to a probe
state — the frozen encoder knows what the words mean, as a pretrained text encoder does. Rows past the last
token are zero, like Wan's zeroed padding. Nothing is trained here: the DiT's `text_embedding` learns to read
the features. A span prompt Smooth(s_j, s_{j+1}) therefore reads as (this span's event, next span's event).
"""

from __future__ import annotations

from functools import cache, lru_cache

import torch
from torch import nn

from plotline.world.actions import ACTIONS
from plotline.world.parse import parse_text
from plotline.world.vocab import PALETTE, SHAPES

MAX_TOKENS = 6
"""Event tokens kept per prompt (text_len of the world backbone); later events are dropped."""


EFFECTS = 4
"""Effect features of an action: Δx, Δy (in moves), Δlog-side (in grows), Δopacity."""


@lru_cache(maxsize=1)
def _offsets() -> dict[str, int]:
    return {
        "slot": 0,
        "action": MAX_TOKENS,
        "shape": MAX_TOKENS + len(ACTIONS),
        "colour": MAX_TOKENS + len(ACTIONS) + len(SHAPES),
        "effect": MAX_TOKENS + len(ACTIONS) + len(SHAPES) + len(PALETTE),
    }


def feature_dim() -> int:
    """Width of one token's features: slots + actions + shapes + colours + effects."""
    return MAX_TOKENS + len(ACTIONS) + len(SHAPES) + len(PALETTE) + EFFECTS


@cache
def action_effect(name: str) -> tuple[float, float, float, float]:
    """(Δx, Δy, Δlog-side, Δopacity) of action `name`, normalised to one move / one grow / a full fade."""
    import math

    from plotline.world.actions import get_action
    from plotline.world.state import Geometry, ObjectState

    g = Geometry(100, 100)
    probe = ObjectState("square", "red", 50.0, 50.0, 20.0, 0.5)
    after = get_action(name).apply(probe, g)
    return (
        (after.x - probe.x) / g.move_px(1, 0),
        (after.y - probe.y) / g.move_px(0, 1),
        math.log(after.size / probe.size) / math.log(g.scale_factor),
        2.0 * (after.alpha - probe.alpha),
    )


def tokenize(text: str) -> list[tuple[str | None, str | None, str | None]]:
    """(action, shape, colour) per event phrase of `text` (at most MAX_TOKENS); one (None, shape, colour)
    token when the text names no event."""
    parsed = parse_text(text or "")
    tokens: list[tuple[str | None, str | None, str | None]] = [
        (e.action, e.shape, e.colour) for e in parsed.events[:MAX_TOKENS]
    ]
    return tokens or [(None, parsed.shape, parsed.colour)]


def encode_tokens(tokens, dim: int | None = None) -> torch.Tensor:
    """[MAX_TOKENS, dim] float features of tokenised text (zero rows past the last token)."""
    off = _offsets()
    actions, colours = list(ACTIONS), list(PALETTE)
    out = torch.zeros(MAX_TOKENS, dim or feature_dim())
    for i, (action, shape, colour) in enumerate(tokens[:MAX_TOKENS]):
        out[i, off["slot"] + i] = 1.0
        if action is not None:
            out[i, off["action"] + actions.index(action)] = 1.0
            out[i, off["effect"] : off["effect"] + EFFECTS] = torch.tensor(action_effect(action))
        if shape is not None:
            out[i, off["shape"] + SHAPES.index(shape)] = 1.0
        if colour is not None:
            out[i, off["colour"] + colours.index(colour)] = 1.0
    return out


class WorldTextEncoder(nn.Module):
    """Frozen encoder: prompts → [B, MAX_TOKENS, text_dim] one-hot event features (text_dim ≥ feature_dim())."""

    _device_probe: torch.Tensor

    def __init__(self, text_dim: int):
        super().__init__()
        if text_dim < feature_dim():
            raise ValueError(f"text_dim {text_dim} is smaller than the world's token features ({feature_dim()})")
        self.text_dim = text_dim
        self.register_buffer("_device_probe", torch.zeros(1), persistent=False)

    @torch.no_grad()
    def forward(self, texts: list[str]) -> torch.Tensor:
        """Features of every prompt, on this module's device."""
        feats = torch.stack([encode_tokens(tokenize(t), self.text_dim) for t in texts])
        return feats.to(self._device_probe.device)
