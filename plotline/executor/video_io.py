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
        with imageio.get_writer(
            path, fps=fps, codec="libx264", macro_block_size=16, ffmpeg_log_level="error"
        ) as writer:
            for frame in frames:
                writer.append_data(frame)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


class EncoderPool:
    """mp4 encoding in a pool of worker threads (each encode drives its own ffmpeg process, so the threads run in
    parallel with each other and with the caller's generation). Results are the bytes `encode_mp4` gives."""

    def __init__(self, workers: int = 4):
        from concurrent.futures import ThreadPoolExecutor

        if workers < 1:
            raise ValueError(f"EncoderPool workers must be ≥ 1, got {workers}")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mp4")

    def submit(self, frames: np.ndarray, fps: int):
        """Start encoding uint8 frames [T, H, W, 3]; returns a Future of the mp4 bytes."""
        return self._pool.submit(encode_mp4, np.ascontiguousarray(frames), fps)

    def encode_all(self, videos: list[np.ndarray], fps: int) -> list[bytes]:
        """mp4 bytes of each video, encoded concurrently, in input order."""
        return [f.result() for f in [self.submit(v, fps) for v in videos]]

    def close(self) -> None:
        """Wait for running encodes and stop the threads."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> EncoderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def overlapped(items, produce, submit, finish):
    """Yield finish(item, produced, pending) for each item in order, where produce(item) is the generation and
    submit(produced) starts its encoding (returning `pending`): item i's encoding runs while item i+1 is
    produced, and finish (which waits on `pending`) runs only after that. Equal, output for output, to
    finish(item, produce(item), submit(...)) run one item at a time."""
    held = None
    for item in items:
        produced = produce(item)
        pending = submit(produced)
        if held is not None:
            yield finish(*held)
        held = (item, produced, pending)
    if held is not None:
        yield finish(*held)
