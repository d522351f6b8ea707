"""The world's vocabulary: shapes, a palette of well-separated colours, and move directions."""

from __future__ import annotations

import numpy as np

SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
"""Shape names, as they appear in instructions."""

SHAPE_SYNONYMS: dict[str, str] = {
    "square": "square",
    "squares": "square",
    "box": "square",
    "block": "square",
    "circle": "circle",
    "circles": "circle",
    "ball": "circle",
    "disc": "circle",
    "disk": "circle",
    "triangle": "triangle",
    "triangles": "triangle",
}
"""Words the text parser reads as a shape."""

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "purple": (255, 0, 255),
    "cyan": (0, 255, 255),
}
"""Colour name -> RGB. Corners of the RGB cube: pairwise chroma distance ≥ 1, and every one keeps its
chroma (RGB divided by its brightest channel) when faded, so fades never change the detected colour."""

COLOUR_SYNONYMS: dict[str, str] = {
    **{c: c for c in PALETTE},
    "magenta": "purple",
    "violet": "purple",
    "aqua": "cyan",
    "turquoise": "cyan",
}
"""Words the text parser reads as a colour."""

DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
"""Move direction -> unit step in image coordinates (x right, y down)."""


def palette_names() -> list[str]:
    """Colour names in palette order."""
    return list(PALETTE)


def palette_chroma() -> np.ndarray:
    """[C, 3] float array of palette colours divided by their brightest channel (all in [0, 1])."""
    arr = np.array(list(PALETTE.values()), dtype=np.float64)
    return arr / arr.max(axis=1, keepdims=True)
