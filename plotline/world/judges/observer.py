"""What the world's video judges see in a request's frames, found once per distinct image.

A judge request carries its frames as PNG bytes; the temporal and step judges of one step see many of the same
images (the step window's frames are among the whole-video frames, and the N continuations of a plan share
their prefix). `FrameObserver` decodes and observes (plotline.world.detect) each distinct image once, all the
images of a batch of requests together, and answers later look-ups from memory. An observation is a function of
the image bytes alone, so what a judge reads is the same as decoding and observing the request's frames."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import numpy as np

from plotline.world.detect import Observation, observe_video


def decode_frames(images: Iterable[bytes]) -> list[np.ndarray]:
    """PNG/JPEG bytes → list of HxWx3 uint8 arrays."""
    from PIL import Image

    return [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in images]


class FrameObserver:
    """Observations of encoded frames at one foreground threshold, remembered by image bytes (at most
    `max_images`; the memory starts over beyond that)."""

    def __init__(self, threshold: int = 48, max_images: int = 65536):
        if max_images < 1:
            raise ValueError(f"FrameObserver max_images must be ≥ 1, got {max_images}")
        self.threshold = threshold
        self.max_images = max_images
        self._seen: dict[bytes, tuple[Observation, tuple[int, int]]] = {}

    def prefetch(self, images: Sequence[bytes], pixels: Sequence[np.ndarray | None] | None = None) -> None:
        """Observe, in one batch, every distinct image of `images` not seen yet: from its entry in `pixels` (the
        frame the image encodes, when given and not None), else decoded."""
        if pixels is not None and len(pixels) != len(images):
            raise ValueError(f"{len(pixels)} pixel frames for {len(images)} images")
        new: dict[bytes, np.ndarray | None] = {}
        for b, px in zip(images, pixels if pixels is not None else [None] * len(images)):
            if b not in self._seen and new.get(b) is None:
                new[b] = px
        if not new:
            return
        if len(self._seen) + len(new) > self.max_images:
            self._seen.clear()
        missing = [b for b, px in new.items() if px is None]
        decoded = dict(zip(missing, decode_frames(missing)))
        frames = [px if px is not None else decoded[b] for b, px in new.items()]
        for b, f, o in zip(new, frames, observe_video(frames, self.threshold)):
            self._seen[b] = (o, (int(f.shape[0]), int(f.shape[1])))

    def prepare(self, requests: Sequence) -> None:
        """Prefetch the frames of every request (JudgeRequest-like: `images`, optional `pixels`)."""
        for r in requests:
            if getattr(r, "pixels", None) is not None and len(r.pixels) != len(r.images):
                raise ValueError(f"a {r.kind} request carries {len(r.pixels)} pixel frames for {len(r.images)} images")
        self.prefetch(
            [b for r in requests for b in r.images],
            [px for r in requests for px in (getattr(r, "pixels", None) or (None,) * len(r.images))],
        )

    def observe(
        self, images: Sequence[bytes], pixels: Sequence[np.ndarray] | None = None
    ) -> tuple[list[Observation], tuple[int, int]]:
        """(observation of each image, in order; the first image's (height, width)): the same as observe_video of
        the decoded frames (`pixels`: the frames the images encode, when known). Raises ValueError for no
        images."""
        if not images:
            raise ValueError("the judge needs at least one frame")
        self.prefetch(images, pixels)
        found = [self._seen[b] for b in images]
        return [o for o, _ in found], found[0][1]

    def __len__(self) -> int:
        return len(self._seen)
