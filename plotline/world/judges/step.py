"""Step-following judge: do the frames right after a prompt switch start carrying out the new step?

The step prompt is parsed into events and a subject (shape, colour); a subject the step does not name is
taken from the previous step (its colour after the previous step's events). The change from the window's
first to its last frame is measured for every action:
- action_score = 10 · mean over the step's events of min(1, strength / full), full = step_full_strength
  (default step_event_threshold), halved when another action dominates the window (an action dominates when its
  strength reaches step_event_threshold; for `stay`: 10 when none does). With full ≈ 1 a late or half-done event
  earns part of the credit only
- subject_score = 10 · mean(majority shape matches, colour of the first visible frame matches)
- scene_score = 10 · share of clean frames (one compact blob on black, palette colours)
- object_appearance_reasonability_score = 10 · share of visible frames that are clean and keep the majority
  shape (no visible frame: 10 for appear/disappear steps, else 0)
- final_score = 10 · action · mean(subject, scene, object)

With the instruction and the span's index (what the reflection critic sends in `instruction` context), the
action is also checked against the instruction's event for that span (the world's plans show the instruction's
events one per span, in order, then `stay`): action = min(action for the step, action for the instruction's
event), so a segment that shows its caption but not the instruction's part at that point scores low (skipped
when the instruction names no event of the world).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plotline.world.actions import get_action
from plotline.world.config import WorldConfig
from plotline.world.detect import Observation, majority, observe_video
from plotline.world.events import event_strengths
from plotline.world.judges.common import as_frames, expectation, reply, ten
from plotline.world.parse import parse_text
from plotline.world.state import Geometry


def _subject(step: str, previous_step: str | None) -> tuple[str | None, str | None]:
    parsed = parse_text(step)
    shape = parsed.events[0].shape if parsed.events and parsed.events[0].shape else parsed.shape
    colour = parsed.events[0].colour if parsed.events and parsed.events[0].colour else parsed.colour
    if previous_step and (shape is None or colour is None):
        prev = expectation(previous_step)
        shape = shape or prev.shape
        colour = colour or prev.colours[-1]
    return shape, colour


def instruction_event(instruction: str, span: int) -> str | None:
    """The instruction's event shown in span `span` (0-based) of a world plan: the span-th changing event of the
    instruction, None (`stay`) past its last one."""
    events = expectation(instruction).events
    return events[span] if 0 <= span < len(events) else None


def _action_share(names, dominant, strengths, full) -> float:
    per = []
    for name in names:
        if not get_action(name).changes:
            per.append(1.0 if dominant is None else 0.0)
            continue
        value = min(1.0, max(0.0, strengths.get(name, 0.0) / full))
        per.append(value * (0.5 if dominant not in (None, *names) else 1.0))
    return float(np.mean(per)) if per else 0.0


def judge_step(
    step: str,
    frames,
    previous_step: str | None = None,
    config: WorldConfig | None = None,
    instruction: str | None = None,
    span: int | None = None,
) -> str:
    """Step-following reply (JSON text) for the frames of a transition window (time order) against the new
    step prompt, with the previous step prompt as context; with `instruction` and `span` the action must also be
    the instruction's event of that span (see the module docstring)."""
    config = config or WorldConfig()
    frames = as_frames(frames)
    obs = observe_video(frames, config.foreground_threshold)
    return step_reply(step, obs, frames[0].shape[:2], previous_step, config, instruction, span)


def step_reply(
    step: str,
    obs: Sequence[Observation],
    size: tuple[int, int],
    previous_step: str | None = None,
    config: WorldConfig | None = None,
    instruction: str | None = None,
    span: int | None = None,
) -> str:
    """judge_step's reply from the window frames' observations (`observe` of each, in time order) and the frames'
    (height, width)."""
    config = config or WorldConfig()
    if not obs:
        raise ValueError("the judge needs at least one frame")
    geometry = Geometry.from_config(config, *size)
    actions = [e.action for e in parse_text(step).events]
    shape, colour = _subject(step, previous_step)
    thr = config.step_event_threshold
    full = config.step_full_strength or thr

    strengths = event_strengths(obs[0], obs[-1], geometry) if len(obs) > 1 else {}
    top = max(strengths, key=strengths.__getitem__) if strengths else None
    dominant = top if top is not None and strengths[top] >= thr else None
    action = _action_share(actions, dominant, strengths, full)
    expected: str | None = "unchecked"
    if instruction is not None and span is not None and expectation(instruction).events:
        expected = instruction_event(instruction, span)
        action = min(action, _action_share([expected or "stay"], dominant, strengths, full))

    visible = [o for o in obs if o.visible]
    seen_shape = majority([o.shape for o in visible])
    if visible:
        subject = float(np.mean([shape is None or seen_shape == shape, colour is None or visible[0].colour == colour]))
        obj = float(np.mean([o.clean and o.shape == seen_shape for o in visible]))
    else:
        subject = 0.0
        obj = 1.0 if set(actions) & {"appear", "disappear"} else 0.0
    scene = float(np.mean([o.clean for o in obs]))

    previous = [e.action for e in parse_text(previous_step).events] if previous_step else []
    scores = {
        "subject_score": ten(subject),
        "scene_score": ten(scene),
        "action_score": ten(action),
        "object_appearance_reasonability_score": ten(obj),
        "final_score": ten(action * (subject + scene + obj) / 3.0),
    }
    think = {
        "step_events": actions or "no event of the shapes world found in the step",
        "expected_subject": {"shape": shape, "colour": colour},
        "observed_subject": {"shape": seen_shape, "colour": visible[0].colour if visible else None},
        "dominant_change": dominant,
        "change_strengths": {k: round(v, 3) for k, v in sorted(strengths.items(), key=lambda kv: -kv[1])[:3]},
        "previous_step_events": previous,
        "still_previous_step": bool(dominant and dominant in previous and dominant not in actions),
        **(
            {}
            if expected == "unchecked"
            else {"instruction_event": expected or "stay", "shows_instruction_event": dominant == expected}
        ),
        "frames": [o.summary() for o in obs],
    }
    return reply(scores, think)
