"""Temporal-following judge: does the video show the instruction's events, in order, on a clean object?

Frames are sampled over the whole video, first and last included. Per frame the object is detected from
pixels; the ordered event sequence is inferred (plotline.world.events.detect_events) and compared with the
ground truth:
- temporal_order_score = 10 · (1 − edit distance(observed, expected) / longer length)
- prompt_alignment_score = 10 · mean(event multiset F1, subject match (shape; colour of first visible frame))
- physical_plausibility_score = 10 · share of consecutive frame pairs that are clean and without teleports
  (centroid jump ≤ 2 moves, area change ≤ 2 grows, same shape)
- visual_consistency_score = 10 · share of frames that are clean and keep the video's majority shape
- frame_scores: per frame 10 · clean · (0.4 on-track + 0.2 visibility + 0.2 shape + 0.2 colour), where
  on-track means the events seen so far are a prefix of the expected ones and not late (at least
  ceil(τ·J) − 1 of the J events by the frame's time τ ∈ [0, 1]; all of them on the last frame), and
  visibility/colour must match the expected state after those events, or the states on either side (an
  event registers part-way through, so the frame may show it still in progress)
- final_score = 10 · order · (0.5 F1 + 0.25 subject + 0.25 clean share)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from plotline.world.config import WorldConfig
from plotline.world.detect import Observation, majority, observe_video
from plotline.world.events import detect_events
from plotline.world.judges.common import Expectation, as_frames, expectation, multiset_f1, order_agreement, reply, ten
from plotline.world.state import Geometry


def _subject_match(obs: Sequence[Observation], exp: Expectation) -> tuple[float, dict]:
    visible = [o for o in obs if o.visible]
    if not visible:
        return 0.0, {"shape": None, "colour": None}
    shape = majority([o.shape for o in visible])
    colour = visible[0].colour
    checks = [exp.shape is None or shape == exp.shape, exp.colour is None or colour == exp.colour]
    return float(np.mean(checks)), {"shape": shape, "colour": colour}


def _plausible_pair(a: Observation, b: Observation, g: Geometry) -> bool:
    if not (a.clean and b.clean):
        return False
    if not (a.visible and b.visible):
        return True
    jump = math.hypot(b.cx - a.cx, b.cy - a.cy)
    max_jump = 2.0 * max(g.move_px(1, 0), g.move_px(0, 1)) + 1.0
    area_ok = abs(math.log(b.area / a.area)) <= 2.0 * g.log_area_per_scale + 0.2
    return jump <= max_jump and area_ok and a.shape == b.shape


def _frame_scores(obs: Sequence[Observation], registered: Sequence[tuple[int, str]], exp: Expectation) -> list[float]:
    """Per-frame 0–10 scores (see module docstring); `registered` = (frame index, action) in order."""
    expected = list(exp.events)
    scores = []
    for i, o in enumerate(obs):
        seen = [a for idx, a in registered if idx <= i]
        k = min(len(seen), len(expected))
        tau = i / max(len(obs) - 1, 1)
        due = len(expected) if i == len(obs) - 1 else math.ceil(tau * len(expected)) - 1
        on_track = seen == expected[: len(seen)] and len(seen) >= due
        allowed = range(max(0, k - 1), min(k + 1, len(expected)) + 1)  # mid-event on either side
        vis_ok = o.visible in {exp.visible[j] for j in allowed}
        if o.visible:
            shape_ok = exp.shape is None or o.shape == exp.shape
            colour_ok = exp.colour is None or o.colour in {exp.colours[j] for j in allowed}
        else:
            shape_ok = colour_ok = o.clean
        scores.append(ten(o.clean * (0.4 * on_track + 0.2 * vis_ok + 0.2 * shape_ok + 0.2 * colour_ok)))
    return scores


def judge_temporal(
    instruction: str, frames, steps: Sequence[str] | None = None, config: WorldConfig | None = None
) -> str:
    """Temporal-following reply (JSON text) for frames sampled over the whole video (in time order, last frame
    included) against the instruction; ground-truth `steps` sharpen the expectation when given."""
    config = config or WorldConfig()
    frames = as_frames(frames)
    obs = observe_video(frames, config.foreground_threshold)
    return temporal_reply(instruction, obs, frames[0].shape[:2], steps, config)


def temporal_reply(
    instruction: str,
    obs: Sequence[Observation],
    size: tuple[int, int],
    steps: Sequence[str] | None = None,
    config: WorldConfig | None = None,
) -> str:
    """judge_temporal's reply from the frames' observations (`observe` of each, in time order) and the frames'
    (height, width)."""
    config = config or WorldConfig()
    if not obs:
        raise ValueError("the judge needs at least one frame")
    geometry = Geometry.from_config(config, *size)
    exp = expectation(instruction, steps)
    detected = detect_events(obs, geometry, config.event_threshold)
    observed = [d.action for d in detected]
    order = order_agreement(observed, exp.events)
    f1 = multiset_f1(observed, exp.events)
    subject, seen_subject = _subject_match(obs, exp)
    clean = float(np.mean([o.clean for o in obs]))
    pairs = [_plausible_pair(a, b, geometry) for a, b in zip(obs, obs[1:])]
    physical = float(np.mean(pairs)) if pairs else clean
    major = majority([o.shape for o in obs if o.visible])
    consistent = float(np.mean([o.clean and (not o.visible or o.shape == major) for o in obs]))
    scores = {
        "frame_scores": _frame_scores(obs, [(d.seen_at, d.action) for d in detected], exp),
        "temporal_order_score": ten(order),
        "physical_plausibility_score": ten(physical),
        "visual_consistency_score": ten(consistent),
        "prompt_alignment_score": ten(0.5 * f1 + 0.5 * subject),
        "final_score": ten(order * (0.5 * f1 + 0.25 * subject + 0.25 * clean)),
    }
    think = {
        "expected_events": list(exp.events),
        "observed_events": [{"event": d.action, "frames": [d.start, d.end]} for d in detected],
        "expected_subject": {"shape": exp.shape, "colour": exp.colour},
        "observed_subject": seen_subject,
        "clean_frames": round(clean, 3),
        "frames": [o.summary() for o in obs],
    }
    return reply(scores, think)
