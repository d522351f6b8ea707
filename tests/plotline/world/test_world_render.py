"""Renderer (shapes, dtypes, spans, progress) and the text → event parser."""

from __future__ import annotations

import numpy as np
import pytest

from plotline.world.config import WorldConfig
from plotline.world.detect import observe
from plotline.world.parse import parse_events, parse_text
from plotline.world.render import render_from_steps, render_scenario, shape_mask, span_bounds, span_progress
from plotline.world.state import Geometry, ObjectState, Scenario


def test_video_shape_dtype_and_black_background(instructions, world_config):
    for inst in instructions[:10]:
        video = render_scenario(inst.scenario, world_config)
        assert video.shape == (world_config.num_frames, 32, 32, 3) and video.dtype == np.uint8
        corners = video[:, [0, 0, -1, -1], [0, -1, 0, -1]]
        assert corners.max() == 0 or inst.scenario.initial.size > 14  # big shapes may touch a corner
    cfg = WorldConfig(frame_height=48, frame_width=64, num_frames=20)
    video = render_scenario(instructions[0].scenario, cfg)
    assert video.shape == (20, 48, 64, 3)
    assert render_scenario(instructions[0].scenario, cfg, num_frames=9).shape[0] == 9


def test_spans_are_equal_and_progress_is_monotone():
    assert span_bounds(32, 4) == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert span_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    with pytest.raises(ValueError):
        span_bounds(2, 3)
    ps = [span_progress(i, 8, 0.25) for i in range(8)]
    assert ps[0] == 0.0 and ps[-1] == 1.0 and ps[-2] == 1.0
    assert all(a <= b for a, b in zip(ps, ps[1:]))


def test_each_event_happens_in_its_own_span():
    cfg = WorldConfig()
    g = Geometry.from_config(cfg)
    scenario = Scenario(ObjectState("square", "red", 12.0, 16.0, 8.0), ("move_right", "turn_blue", "grow"))
    video = render_scenario(scenario, cfg, num_frames=24)
    obs = [observe(f) for f in video]
    (a0, b0), (a1, b1), (a2, b2) = span_bounds(24, 3)
    assert obs[0].cx < obs[b0 - 1].cx == obs[b1 - 1].cx  # moves in span 0 only
    assert obs[b0 - 1].cx - obs[0].cx == pytest.approx(g.move_px(1, 0), abs=1)
    xs = [o.cx for o in obs[a0:b0]]
    assert all(x0 <= x1 for x0, x1 in zip(xs, xs[1:])) and len(set(xs)) > 3  # smooth, not a jump
    assert obs[a1].colour == "red" and obs[b1 - 1].colour == "blue"
    mid = obs[a1 + (b1 - a1) // 2]
    assert 0 < mid.colour_fraction("blue") < 1  # the wipe is under way mid-span
    assert obs[a2].area < obs[b2 - 1].area and obs[-1].colour == "blue"


def test_hidden_start_and_disappear_render_black():
    cfg = WorldConfig()
    appear = Scenario(ObjectState("circle", "green", 16, 16, 10, alpha=0.0), ("appear", "disappear"))
    video = render_scenario(appear, cfg)
    assert video[0].max() == 0 and video[-1].max() == 0 and video[len(video) // 2 - 1].max() == 255


def test_shape_masks_have_distinct_fill_ratios():
    for side in range(7, 17):
        fills = {s: shape_mask(s, side).mean() for s in ("square", "circle", "triangle")}
        assert fills["square"] == 1.0 and 0.7 < fills["circle"] < 0.9 and 0.4 < fills["triangle"] < 0.7


def test_render_from_steps_matches_the_described_events():
    cfg = WorldConfig()
    video = render_from_steps(
        ["a red square moves to the right", "the red square turns blue", "the blue square grows"], cfg
    )
    assert video.shape == (cfg.num_frames, 32, 32, 3)
    first, last = observe(video[0]), observe(video[-1])
    assert (first.shape, first.colour, last.colour) == ("square", "red", "blue")
    assert last.cx > first.cx and last.area > first.area
    held = render_from_steps(["a green triangle stays still", "a green triangle moves up"], cfg)
    obs = [observe(f) for f in held]
    assert obs[0].cy == obs[cfg.num_frames // 2 - 1].cy > obs[-1].cy
    with pytest.raises(ValueError):
        render_from_steps(["a dog runs across a field"], cfg)
    with pytest.raises(ValueError):  # not possible: it is red already
        render_from_steps(["a red square turns red"], cfg)


@pytest.mark.parametrize(
    "text,events",
    [
        ("A red square slides left, then becomes larger.", ["move_left", "grow"]),
        ("First the ball rises, then it vanishes, and finally it fades in.", ["move_up", "disappear", "appear"]),
        (
            "After moving to the right, the blue circle changes colour to yellow and gets smaller.",
            ["move_right", "turn_yellow", "shrink"],
        ),
        ("a cyan triangle stays still", ["stay"]),
        ("a purple square moves downward and turns magenta", ["move_down", "turn_purple"]),
        ("a cat sleeps on the sofa", []),
    ],
)
def test_parser_finds_events_in_order(text, events):
    assert parse_events(text) == events


def test_parser_reads_subjects():
    parsed = parse_text("After moving right, the red square turns blue")
    assert (parsed.shape, parsed.colour) == ("square", "red")
    assert [(e.shape, e.colour) for e in parsed.events] == [("square", "red"), ("square", "red")]
    assert parse_text("a blue box grows").shape == "square"
