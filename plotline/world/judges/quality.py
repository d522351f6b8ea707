"""Image-statistics stand-in for PickScore in the shapes world (no model, no weights).

It is NOT an aesthetic model: it rewards frames that look like clean renders of this world. Per frame
(pixels only, values in [0, 1]):
- contrast: mean brightness (brightest channel) of the foreground minus that of the background
- saturation: mean HSV saturation of the foreground (palette colours are fully saturated)
- crispness: share of pixels that are clearly background (≤ 0.1) or clearly lit (≥ 0.75), not blurred/mid-tone
- coherence: share of 4-neighbour pixel pairs whose brightness differs by < 0.1 (noise is incoherent)
frame_quality = mean of the four; an empty (all-background) frame gets 0.5 (crisp and coherent, no subject).
image_quality_score = mean frame_quality over the frames. The prompt is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plotline.rewards.frames import frame_key


def frame_quality(frame: np.ndarray, threshold: int = 48) -> float:
    """Quality in [0, 1] of one HxWx3 uint8 frame (see module docstring)."""
    f = np.asarray(frame, dtype=np.float64)[..., :3] / 255.0
    peak = f.max(axis=-1)
    fg = peak >= threshold / 255.0
    if not fg.any():
        return 0.5
    crisp = float(np.mean((peak <= 0.1) | (peak >= 0.75)))
    coherent = float(
        np.mean(
            np.concatenate(
                [(np.abs(np.diff(peak, axis=0)) < 0.1).ravel(), (np.abs(np.diff(peak, axis=1)) < 0.1).ravel()]
            )
        )
    )
    bg_mean = float(peak[~fg].mean()) if (~fg).any() else 1.0
    contrast = max(0.0, float(peak[fg].mean()) - bg_mean)
    sat = (f[fg].max(axis=1) - f[fg].min(axis=1)) / np.maximum(f[fg].max(axis=1), 1e-6)
    return float(np.mean([contrast, float(sat.mean()), crisp, coherent]))


def frame_qualities(frames: Sequence[np.ndarray], threshold: int = 48) -> list[float]:
    """frame_quality of each of `frames` (one shape, at least 2x2), computed together where the arithmetic is the
    same element by element or an exact count: conversion, brightest channel, the crisp and coherent shares (pixel
    counts over totals) and the foreground's saturations; the means of float values stay per frame."""
    stack = np.stack(frames)
    if stack.ndim != 4 or min(stack.shape[1:3]) < 2:
        return [frame_quality(fr, threshold) for fr in frames]
    f = np.asarray(stack, dtype=np.float64)[..., :3] / 255.0
    _, h, w = f.shape[:3]
    peak = f.max(axis=-1)
    fg = peak >= threshold / 255.0
    crisp = ((peak <= 0.1) | (peak >= 0.75)).sum(axis=(1, 2))
    coherent = (np.abs(np.diff(peak, axis=1)) < 0.1).sum(axis=(1, 2)) + (np.abs(np.diff(peak, axis=2)) < 0.1).sum(
        axis=(1, 2)
    )
    pairs = (h - 1) * w + h * (w - 1)
    lit = f[fg]
    top = lit.max(axis=1)
    sats = np.split((top - lit.min(axis=1)) / np.maximum(top, 1e-6), np.cumsum(fg.sum(axis=(1, 2)))[:-1])
    out = []
    for i in range(len(f)):
        if not fg[i].any():
            out.append(0.5)
            continue
        bg_mean = float(peak[i][~fg[i]].mean()) if (~fg[i]).any() else 1.0
        contrast = max(0.0, float(peak[i][fg[i]].mean()) - bg_mean)
        parts = [contrast, float(sats[i].mean()), int(crisp[i]) / (h * w), int(coherent[i]) / pairs]
        out.append(float(np.mean(parts)))
    return out


def image_quality_score(frames, prompt: str | None = None, threshold: int = 48) -> float:
    """Mean frame_quality over a video [T, H, W, 3] or a list of frames; `prompt` is ignored."""
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to score")
    return float(np.mean([frame_quality(fr, threshold) for fr in frames]))


class ImageStatsScorer:
    """Drop-in for PickScorer.score in the shapes world: one image-statistics score per (prompt, frames)."""

    def __init__(self, threshold: int = 48):
        self.threshold = threshold

    def score(self, prompts: Sequence[str], videos: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """[len(prompts)] float array of image_quality_score per video (prompts are ignored); each distinct frame is
        scored once."""
        if len(prompts) != len(videos):
            raise ValueError(f"{len(prompts)} prompts for {len(videos)} videos")
        keys: list[list[tuple]] = []
        distinct: dict[tuple, np.ndarray] = {}  # frames with the same pixels (a plan's shared prefix) scored once
        for video in videos:
            frames = [np.ascontiguousarray(fr) for fr in video]
            if not frames:
                raise ValueError("no frames to score")
            keys.append([frame_key(a) for a in frames])
            for key, a in zip(keys[-1], frames):
                distinct.setdefault(key, a)
        by_shape: dict[tuple, list[tuple]] = {}
        for key in distinct:
            by_shape.setdefault(key[:2], []).append(key)
        quality: dict[tuple, float] = {}
        for group in by_shape.values():
            for s in range(0, len(group), 256):
                part = group[s : s + 256]
                quality.update(zip(part, frame_qualities([distinct[k] for k in part], self.threshold)))
        out = [float(np.mean([quality[k] for k in video])) for video in keys]
        return np.array(out, dtype=np.float64)
