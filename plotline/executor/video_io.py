"""Decoded frames → mp4 bytes (imageio + imageio-ffmpeg) and uniformly sampled frames over the whole video."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Frames in [0, 1] [T, H, W, 3] → uint8 array."""
    return (frames.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def sample_indices(num_frames: int, count: int) -> list[int]:
    """count indices spread evenly from the first to the last frame (both included)."""
    if num_frames <= 0:
        raise ValueError("cannot sample frames from an empty video")
    count = min(count, num_frames)
    return sorted(set(np.linspace(0, num_frames - 1, count).round().astype(int).tolist()))


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """H.264 mp4 bytes of uint8 frames [T, H, W, 3] (sizes padded to a multiple of 16 by the encoder)."""
    import imageio.v2 as imageio

    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16,
                                ffmpeg_log_level="error") as writer:
            for frame in frames:
                writer.append_data(frame)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
