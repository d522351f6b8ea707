"""The shapes world's latent space: one latent "pixel" per frame holding the object's state, decoded by the
world's own renderer (the world's analytic VAE).

A 32×32 world frame is fully described by its object: opacity, centre, side, shape, and — mid colour change —
the old colour, the new colour and the wipe front. The executor's DiT generates these states ([C, F, 1, 1],
one token per frame) with the same flow-matching sampler as the real backbones generate Wan-VAE latents, and
WorldStateDecoder renders them to frames (every latent, also a noisy one, renders as one clean shape).

Geometry is coded as motion, as a video codec's P-frames are: each frame holds its displacement (Δx, Δy in
units of MOTION_PX pixels, Δlog-side scaled by SIZE_SCALE) from the previous frame — the first frame from the
frame centre and the REFERENCE_SIDE — and the decoder integrates them over the video. A move is then a direct
function of the prompt and the frame's place in its span, instead of an absolute position the DiT would have
to copy from its cache and offset. (Two other codes were measured first: a pixel latent [4, F, 8, 8] under the
identity decoder, and absolute positions: a CPU-minute of training drew wobbling blobs, resp. shapes that did not
move, and the judges could not read the event order in either.)

Channels: 0 opacity · 1 Δx · 2 Δy · 3 Δlog-side · 4–9 colour before the change (one-hot, ±2) · 10–15 colour
after the change · 16 wipe front (0 → 1 across the shape) · 17–19 shape (one-hot). Opacity and wipe span [−2, 2].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from plotline.world.render import draw, span_frame_states
from plotline.world.state import ObjectState
from plotline.world.vocab import PALETTE, SHAPES

FRAME_SIZE = (32, 32)
"""(height, width) of decoded frames: the world's default frame (world.frame_height/width must match)."""
REFERENCE_SIDE = 11.0
"""Side (pixels) the first frame's Δlog-side is measured from."""
MOTION_PX = 4.0
"""Pixels per unit of the Δx / Δy channels (one default move of 8 px = 2 units)."""
SIZE_SCALE = 5.0
"""Units per unit of log-side (one grow ×1.5 ≈ 2 units)."""
COLOURS = tuple(PALETTE)
SLOT_ALPHA, SLOT_DX, SLOT_DY, SLOT_DSIZE, SLOT_WIPE = 0, 1, 2, 3, 16
SLOT_OLD, SLOT_NEW, SLOT_SHAPE = 4, 10, 17
CHANNELS = SLOT_SHAPE + len(SHAPES)
"""Latent channels C."""
_HI, _LO = 2.0, -2.0


def encode_frames(
    frames: Sequence[tuple[ObjectState, str, float]], frame_size: tuple[int, int] = FRAME_SIZE
) -> torch.Tensor:
    """Latents [C, T, 1, 1] of a video given per frame (state with the old colour, new colour, wipe front)."""
    h, w = frame_size
    px, py, plog = w / 2.0, h / 2.0, math.log(REFERENCE_SIDE)
    cols = []
    for s, new, wipe in frames:
        z = torch.full((CHANNELS,), _LO)
        z[SLOT_ALPHA] = 4.0 * s.alpha - 2.0
        z[SLOT_DX], z[SLOT_DY] = (s.x - px) / MOTION_PX, (s.y - py) / MOTION_PX
        z[SLOT_DSIZE] = (math.log(s.size) - plog) * SIZE_SCALE
        z[SLOT_WIPE] = 4.0 * wipe - 2.0
        z[SLOT_OLD + COLOURS.index(s.colour)] = _HI
        z[SLOT_NEW + COLOURS.index(new)] = _HI
        z[SLOT_SHAPE + SHAPES.index(s.shape)] = _HI
        cols.append(z)
        px, py, plog = s.x, s.y, math.log(s.size)
    return torch.stack(cols, 1)[:, :, None, None].contiguous()


def encode_spans(
    states: Sequence[ObjectState],
    bounds: Sequence[tuple[int, int]],
    hold_fraction: float,
    frame_size: tuple[int, int] = FRAME_SIZE,
) -> torch.Tensor:
    """Latents [C, T, 1, 1] of the video plans.render_spans draws from the same states and span bounds."""
    return encode_frames(span_frame_states(states, bounds, hold_fraction), frame_size)


def decode_states(
    z: torch.Tensor, frame_size: tuple[int, int] = FRAME_SIZE
) -> list[tuple[ObjectState, ObjectState, float]]:
    """(before, after, wipe front) per frame of one video's latents [C, T] (motion integrated from the frame
    centre; argmax for colours and shape; opacity, side and wipe clipped)."""
    h, w = frame_size
    a = z.detach().float().cpu().numpy()
    x = w / 2.0 + MOTION_PX * np.cumsum(a[SLOT_DX])
    y = h / 2.0 + MOTION_PX * np.cumsum(a[SLOT_DY])
    side = np.clip(REFERENCE_SIDE * np.exp(np.cumsum(a[SLOT_DSIZE]) / SIZE_SCALE), 1.0, float(min(h, w)))
    out = []
    for t in range(a.shape[1]):
        alpha = float(np.clip((a[SLOT_ALPHA, t] + 2.0) / 4.0, 0.0, 1.0))
        before = ObjectState(
            SHAPES[int(a[SLOT_SHAPE : SLOT_SHAPE + len(SHAPES), t].argmax())],
            COLOURS[int(a[SLOT_OLD : SLOT_OLD + len(COLOURS), t].argmax())],
            float(x[t]),
            float(y[t]),
            float(side[t]),
            alpha,
        )
        after = before.with_(colour=COLOURS[int(a[SLOT_NEW : SLOT_NEW + len(COLOURS), t].argmax())])
        out.append((before, after, float(np.clip((a[SLOT_WIPE, t] + 2.0) / 4.0, 0.0, 1.0))))
    return out


class WorldStateDecoder(nn.Module):
    """Latents [B, C, F, 1, 1] of whole videos → frames in [0, 1] as [B, F, H, W, 3], drawn by the world renderer."""

    def __init__(self, frame_size: tuple[int, int] = FRAME_SIZE):
        super().__init__()
        h, w = frame_size
        self.frame_size = (h, w)

    @torch.no_grad()
    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Render every frame's decoded state (videos must start at their first frame: motion is integrated)."""
        b, c, f = latents.shape[:3]
        if c != CHANNELS:
            raise ValueError(f"world state latents need {CHANNELS} channels, got {c}")
        h, w = self.frame_size
        out = np.zeros((b, f, h, w, 3), dtype=np.uint8)
        for i in range(b):
            for t, (before, after, wipe) in enumerate(decode_states(latents[i, :, :, 0, 0], self.frame_size)):
                draw(out[i, t], before, after, wipe)
        return torch.from_numpy(out).float() / 255.0
