"""Pictures of a generated video a person can look at: a filmstrip PNG and an upscaled GIF.

World videos are 32×32 px; both are enlarged with nearest-neighbour resampling (pixels stay crisp squares)."""

from __future__ import annotations

import io

import numpy as np


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be [n, H, W, 3] with n >= 1, got shape {tuple(frames.shape)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor: every pixel becomes a scale×scale block."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    frames = _check(frames)
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)


def filmstrip(frames: np.ndarray, scale: int = 4, gap: int = 2) -> np.ndarray:
    """The frames side by side (upscaled), separated by `gap` white columns: an [H·s, n·W·s + (n−1)·gap, 3] image."""
    big = upscale(frames, scale)
    n, h, w, _ = big.shape
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, dtype=np.uint8)
    for i in range(n):
        strip[:, i * (w + gap) : i * (w + gap) + w] = big[i]
    return strip


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an [H, W, 3] uint8 image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, scale: int = 8, fps: float = 4.0) -> bytes:
    """An endlessly looping GIF of the upscaled frames at `fps` frames per second."""
    from PIL import Image

    big = upscale(frames, scale)
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in big]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        loop=0,
        duration=max(20, int(round(1000.0 / fps))),
        disposal=1,
    )
    return buf.getvalue()
