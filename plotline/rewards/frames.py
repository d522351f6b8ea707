"""Which frames the video judges see, and how frames are encoded for them."""

from __future__ import annotations

import hashlib
import io

import numpy as np


def whole_video_indices(total: int, count: int) -> list[int]:
    """`count` frame indices spread evenly over the WHOLE video, always including the first and the LAST
    frame (DESIGN §10: the reference never reached the last second). Fewer when the video is shorter."""
    if total <= 0:
        raise ValueError("video has no frames")
    if count >= total:
        return list(range(total))
    if count == 1:
        return [total - 1]
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, count)})


def window_indices(start: int, end: int, count: int) -> list[int]:
    """`count` indices spread evenly over the half-open window [start, end), first and last included."""
    if end <= start:
        raise ValueError(f"empty frame window [{start}, {end})")
    return [start + i for i in whole_video_indices(end - start, count)]


def latent_to_pixel_window(
    start_latent: int, end_latent: int, total_pixels: int, compression: int = 4
) -> tuple[int, int]:
    """Pixel-frame window [a, b) decoded from latent frames [start, end) by a causal video VAE with temporal
    `compression` (Wan: latent 0 → pixel 0, latent i ≥ 1 → pixels 4i−3 … 4i), clipped to the video."""

    def first(i: int) -> int:
        return 0 if i == 0 else compression * i - compression + 1

    a = first(start_latent)
    b = first(end_latent) if end_latent > 0 else 0
    return min(a, total_pixels - 1), min(max(b, a + 1), total_pixels)


def encode_png(frame: np.ndarray, max_side: int | None = None) -> bytes:
    """One HxWx3 uint8 frame as PNG bytes, downscaled so its longest side is at most `max_side`."""
    from PIL import Image

    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr).convert("RGB")
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BICUBIC
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_pixels(frame: np.ndarray, max_side: int | None = None) -> np.ndarray | None:
    """The pixels encode_png(frame, max_side) stores when they are the frame itself (uint8 HxWx3 whose longest
    side is at most `max_side`): decoding that PNG gives this array. None when encoding converts or resizes."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        return None
    if max_side and max(arr.shape[:2]) > max_side:
        return None
    return arr


def frame_key(frame: np.ndarray) -> tuple:
    """(dtype, shape, sha256 of the bytes) of a C-contiguous frame: equal exactly when the pixels are."""
    arr = np.ascontiguousarray(frame)
    return (arr.dtype.str, arr.shape, hashlib.sha256(arr.data).digest())


class PngCache:
    """encode_png with a memory: frames with the same pixels (same dtype, shape and bytes: a plan's continuations
    share their prefix frames, the step window's frames are among the whole-video ones) are encoded once; the
    bytes are encode_png's. Holds at most `max_frames` encodings (the memory starts over beyond that)."""

    def __init__(self, max_frames: int = 65536):
        if max_frames < 1:
            raise ValueError(f"PngCache max_frames must be ≥ 1, got {max_frames}")
        self.max_frames = max_frames
        self._png: dict[tuple, bytes] = {}
        self.hits = 0

    def encode(self, frame: np.ndarray, max_side: int | None = None) -> bytes:
        """encode_png(frame, max_side), from memory when these pixels were encoded at this size before."""
        arr = np.ascontiguousarray(frame)
        key = (*frame_key(arr), max_side)
        found = self._png.get(key)
        if found is not None:
            self.hits += 1
            return found
        if len(self._png) >= self.max_frames:
            self._png.clear()
        self._png[key] = png = encode_png(arr, max_side)
        return png

    def __len__(self) -> int:
        return len(self._png)
