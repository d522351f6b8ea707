"""Batched detection and the judges' frame memory give what the frame-by-frame path gives: the largest components
of a batch against a flood fill, observe_video against observe per frame, FrameObserver against decoding and
observing each request's frames, and the world judges through the programmatic backend against the judges called
on decoded frames."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest

from plotline.rewards.frames import PngCache, encode_png
from plotline.rewards.judges.base import JudgeRequest
from plotline.world.config import WorldConfig
from plotline.world.detect import (
    MIN_PIXELS,
    Observation,
    _downscale,
    classify_shape,
    largest_component,
    largest_components,
    observe,
    observe_video,
)
from plotline.world.judges import judge_step, judge_temporal
from plotline.world.judges.backend import world_judges
from plotline.world.judges.observer import FrameObserver, decode_frames
from plotline.world.judges.step import step_reply
from plotline.world.judges.temporal import temporal_reply
from plotline.world.render import render_scenario
from plotline.world.vocab import palette_chroma, palette_names


def flood_fill_largest(mask: np.ndarray) -> np.ndarray:
    """Independent oracle: breadth-first 4-connected components; the largest, ties to the one whose lowest
    row-major pixel index is smallest."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best: list[tuple[int, int]] = []
    for start in range(h * w):
        y0, x0 = divmod(start, w)
        if not mask[y0, x0] or seen[y0, x0]:
            continue
        comp, queue = [], deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            comp.append((y, x))
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                v, u = y + dy, x + dx
                if 0 <= v < h and 0 <= u < w and mask[v, u] and not seen[v, u]:
                    seen[v, u] = True
                    queue.append((v, u))
        if len(comp) > len(best):  # components are met in order of their lowest index: a tie keeps the first
            best = comp
    out = np.zeros_like(mask, dtype=bool)
    for y, x in best:
        out[y, x] = True
    return out


def reference_observe(frame: np.ndarray, threshold: int = 48) -> Observation:
    """The frame-by-frame detector as it was before batching (the oracle): observe of one frame."""
    f, k = _downscale(np.asarray(frame, dtype=np.float64)[..., :3])
    peak = f.max(axis=-1)
    fg = peak >= threshold
    n = int(fg.sum())
    fg_fraction = n / fg.size
    if n < MIN_PIXELS:
        return Observation(False, foreground_fraction=fg_fraction)
    blob = largest_component(fg)
    pixels = float(blob.sum())
    ys, xs = np.nonzero(blob)
    width = int(xs.max() - xs.min() + 1)
    height = int(ys.max() - ys.min() + 1)
    fill = pixels / (width * height)
    centre = ys.min() + height / 2
    top, bottom = float(np.sum(ys + 0.5 < centre)), float(np.sum(ys + 0.5 > centre))
    asymmetry = bottom / max(top, 1.0)
    # brightness-invariant area: light in the blob's box (1 px margin, dim edge pixels included) divided by
    # the blob's core brightness, so a fade or a soft edge does not read as a size change
    box = peak[max(0, ys.min() - 1) : ys.max() + 2, max(0, xs.min() - 1) : xs.max() + 2]
    core = float(np.percentile(peak[blob], 90))
    area = float(box.sum() / core)
    pix = f[blob]
    chroma = pix / np.maximum(pix.max(axis=1, keepdims=True), 1e-6)
    pal = palette_chroma()
    dist = np.linalg.norm(chroma[:, None, :] - pal[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    names = palette_names()
    counts = np.bincount(nearest, minlength=len(names)) / len(nearest)
    colours = {names[i]: float(counts[i]) for i in range(len(names)) if counts[i] > 0}
    return Observation(
        visible=True,
        area=area * k * k,
        cx=float(xs.mean() + 0.5) * k,
        cy=float(ys.mean() + 0.5) * k,
        width=width * k,
        height=height * k,
        fill=float(fill),
        shape=classify_shape(fill, width, height, asymmetry),
        colour=names[int(counts.argmax())],
        colours=colours,
        brightness=float(peak[blob].mean() / 255.0),
        palette_distance=float(dist.min(axis=1).mean()),
        clutter=1.0 - pixels / n,
        foreground_fraction=fg_fraction,
    )


def test_largest_components_match_flood_fill_and_per_frame():
    rng = np.random.default_rng(0)
    masks = [rng.random((13, 17)) < p for p in np.linspace(0.05, 0.7, 30)]
    tie = np.zeros((13, 17), dtype=bool)
    tie[8:10, 1:3] = True  # two 4-pixel blobs: the one holding the lower index (row 2) must win
    tie[2:4, 12:14] = True
    spiral = np.zeros((13, 17), dtype=bool)  # a long thin path: many propagation passes
    spiral[0, :] = spiral[:, -1] = spiral[-1, :] = spiral[2:, 0] = spiral[2, :-2] = spiral[2:11, -3] = True
    masks += [tie, spiral, np.zeros((13, 17), dtype=bool), np.ones((13, 17), dtype=bool)]
    batch = largest_components(np.stack(masks))
    for m, got in zip(masks, batch):
        np.testing.assert_array_equal(got, flood_fill_largest(m))
        np.testing.assert_array_equal(got, largest_component(m))
    assert batch[-4][2, 12] and not batch[-4][8, 1]
    with pytest.raises(ValueError, match="masks"):
        largest_components(masks[0])


def _frames() -> list[np.ndarray]:
    """Rendered frames, frames that need downscaling, noise, black, nearly black and a two-blob frame."""
    from plotline.world.instructions import generate_instructions

    insts = generate_instructions(WorldConfig(seed=5, num_train_instructions=6, num_eval_instructions=0))
    frames = [f for inst in insts for f in render_scenario(inst.scenario)[::3]]
    rng = np.random.default_rng(1)
    big = np.zeros((100, 140, 3), dtype=np.uint8)
    big[20:50, 30:70] = (255, 0, 0)
    two = np.zeros((32, 32, 3), dtype=np.uint8)
    two[2:6, 2:6] = (0, 255, 0)
    two[20:24, 20:24] = (0, 0, 255)
    dim = np.zeros((32, 32, 3), dtype=np.uint8)
    dim[5, 5:7] = 200
    frames += [big, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), np.zeros((32, 32, 3), np.uint8), dim, two]
    frames += [rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)]
    for y, x in ((3, 4), (10, 12), (20, 2), (1, 25)):  # blobs of one size, mixed brightness: one percentile call
        sq = np.zeros((32, 32, 3), dtype=np.uint8)
        sq[y : y + 5, x : x + 5, 0] = rng.integers(60, 256, (5, 5), dtype=np.uint8)
        frames.append(sq)
    return frames


def test_observe_video_equals_observe_frame_by_frame(monkeypatch):
    import plotline.world.detect as detect

    frames = _frames()
    expected = [reference_observe(f, 48) for f in frames]
    assert [observe(f, 48) for f in frames] == expected  # dataclass equality: every float the same
    assert observe_video(frames, 48) == expected
    monkeypatch.setattr(detect, "OBSERVE_BATCH", 3)  # batches split mid-size-group
    assert observe_video(frames, 48) == expected
    assert observe_video(frames, 96) == [reference_observe(f, 96) for f in frames]
    assert observe_video([]) == []


def test_frame_observer_equals_decoding_and_observing():
    frames = _frames()[:20]
    pngs = [encode_png(f) for f in frames]
    images = pngs + pngs[::-1] + pngs[:3]  # repeats: each distinct image is decoded once
    obs = FrameObserver(48)
    got, size = obs.observe(images)
    assert got == observe_video(decode_frames(images), 48) and size == tuple(frames[0].shape[:2])
    assert len(obs) == len(set(pngs))
    small = FrameObserver(48, max_images=4)  # the memory starts over: answers do not change
    assert small.observe(images)[0] == got and len(small) <= 4 + len(images)
    with pytest.raises(ValueError, match="at least one frame"):
        obs.observe([])


def test_png_cache_gives_encode_png_bytes():
    frames = _frames()[:12]
    cache = PngCache()
    for f in frames + frames:
        assert cache.encode(f, 32) == encode_png(f, 32)
    assert cache.hits == len(frames) + (len(frames) - len(cache))  # the second pass, and repeats in the first
    assert len(cache) == len({f.tobytes() + bytes(str(f.shape), "ascii") for f in frames})
    view = np.stack(frames[:2])[:, ::-1]  # not contiguous
    assert cache.encode(view[0], 16) == encode_png(view[0], 16)
    assert cache.encode(view[0], 16) != cache.encode(view[0], 32)  # sizes are kept apart


def _requests():
    """Temporal and step requests over rendered videos, as the score stage builds them (frames shared)."""
    from plotline.world.instructions import generate_instructions

    insts = generate_instructions(WorldConfig(seed=5, num_train_instructions=4, num_eval_instructions=0))
    reqs = []
    for inst in insts:
        video = render_scenario(inst.scenario)
        whole = [encode_png(f) for f in video[::4]]
        window = [encode_png(f) for f in video[4:13:4]]
        meta = {"instruction": inst.prompt, "steps": None}
        reqs.append(JudgeRequest("temporal", "m", "", inst.prompt, images=tuple(whole), meta=meta))
        meta = {"step": inst.steps[1 % len(inst.steps)], "previous_step": inst.steps[0]}
        reqs.append(JudgeRequest("step", "m", "", "", images=tuple(window), meta=meta))
    return reqs


def test_world_judges_through_the_backend_equal_frame_by_frame_judging():
    """The programmatic backend (batch prepared, frames remembered) answers every request as the judges do on
    the request's decoded frames, observed one by one; a broken image fails only its own request."""
    from plotline.rewards.judges.programmatic import (
        ProgrammaticJudgeBackend,
        register_programmatic_judge,
        unregister_programmatic_judge,
    )

    config = WorldConfig()
    reqs = _requests()
    broken = JudgeRequest("step", "m", "", "", images=(b"not a png",), meta={"step": "it grows"})
    for kind, fn in world_judges(config).items():
        register_programmatic_judge(kind, fn)
    try:
        answers = ProgrammaticJudgeBackend().complete(reqs + [broken])
    finally:
        for kind in ("temporal", "step", "plan"):
            unregister_programmatic_judge(kind)
    assert not answers[-1].ok and "UnidentifiedImageError" in answers[-1].error
    for req, resp in zip(reqs, answers):
        frames = decode_frames(req.images)
        one_by_one = [observe(f, config.foreground_threshold) for f in frames]
        if req.kind == "temporal":
            assert resp.raw == judge_temporal(req.meta["instruction"], frames, None, config)
            assert resp.raw == temporal_reply(req.meta["instruction"], one_by_one, frames[0].shape[:2], None, config)
        else:
            assert resp.raw == judge_step(req.meta["step"], frames, req.meta["previous_step"], config)
            reference = step_reply(req.meta["step"], one_by_one, frames[0].shape[:2], req.meta["previous_step"], config)
            assert resp.raw == reference
        assert json.loads(resp.raw)["final_score"] >= 0


def test_png_pixels_are_what_decoding_gives():
    from plotline.rewards.frames import png_pixels

    for f in _frames():
        px = png_pixels(f, 448)
        assert px is not None
        np.testing.assert_array_equal(px, decode_frames([encode_png(f, 448)])[0])
    big = next(f for f in _frames() if f.shape[:2] == (70, 90))  # encode_png resizes it to 32
    assert png_pixels(big, 32) is None and png_pixels(big.astype(np.float32), None) is None
    assert png_pixels(np.zeros((8, 8, 4), np.uint8), None) is None


def test_frame_observer_reads_request_pixels_as_decoding_would():
    from plotline.rewards.frames import png_pixels

    frames = _frames()[:10]
    images = tuple(encode_png(f) for f in frames)
    req = JudgeRequest("step", "m", "", "", images=images, pixels=tuple(png_pixels(f) for f in frames))
    with_pixels, without = FrameObserver(48), FrameObserver(48)
    with_pixels.prepare([req])
    assert with_pixels.observe(images)[0] == without.observe(images)[0] == [observe(f) for f in frames]
    short = JudgeRequest("step", "m", "", "", images=images, pixels=req.pixels[:3])
    with pytest.raises(ValueError, match="3 pixel frames for 10 images"):
        FrameObserver(48).prepare([short])


def test_image_stats_scorer_equals_per_video_quality():
    from plotline.world.judges import ImageStatsScorer, image_quality_score

    frames = _frames()
    videos = [frames[:5], frames[3:9], frames[:5], [frames[-5], frames[0]], frames[-4:]]  # shared and repeated frames
    got = ImageStatsScorer(48).score(["p"] * len(videos), videos)
    assert got.tolist() == [image_quality_score(v, None, 48) for v in videos]
    with pytest.raises(ValueError, match="no frames"):
        ImageStatsScorer(48).score(["p"], [[]])
    from plotline.world.judges.quality import frame_qualities, frame_quality

    small = [f for f in frames if f.shape[:2] == (32, 32)] + [np.full((32, 32, 3), 255, np.uint8)]  # no background
    assert frame_qualities(small, 48) == [frame_quality(f, 48) for f in small]
    assert frame_qualities([np.zeros((1, 5, 3), np.uint8)], 48) == [0.5]
