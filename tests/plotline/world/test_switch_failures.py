"""Switch failures of the bootstrap executor's training videos: each corruption against a hand-computed expectation,
the clean path unchanged, the config's checks, and the world's step and temporal judges scoring the failures lower
than the clean switch on rendered videos."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from plotline.world.bootstrap_config import SwitchFailureConfig
from plotline.world.judges import judge_step, judge_temporal
from plotline.world.plans import captions, render_spans, span_bounds_from_starts
from plotline.world.state import Geometry, ObjectState, Scenario
from plotline.world.switch_failures import (
    SWITCH_FAILURES,
    SwitchVideo,
    apply_switch_failure,
    draw_frame_states,
    span_frame_states,
)

HOLD = 0.25
BOUNDS = span_bounds_from_starts([0, 3, 6], 9)
GEOMETRY = Geometry(32, 32)  # moves of 8 px, sides 7..16, grow ×1.5
INITIAL = ObjectState("square", "red", 10.0, 16.0, 8.0)


def _video(events, initial=INITIAL, span=1) -> SwitchVideo:
    states = Scenario(initial, tuple(events)).states(GEOMETRY)
    return SwitchVideo(states, tuple(events), BOUNDS, span, GEOMETRY, HOLD)


def _geometry(frame):
    s, new, wipe = frame
    return (round(s.x, 6), round(s.y, 6), round(s.size, 6), s.colour, new, round(wipe, 6))


def test_clean_frame_states_draw_the_rendered_spans():
    video = _video(["move_right", "turn_blue", "grow"])
    frames = span_frame_states(video.states, BOUNDS, HOLD)
    np.testing.assert_array_equal(draw_frame_states(frames, 32, 32), render_spans(video.states, BOUNDS, 32, 32, HOLD))


def test_delay_holds_the_previous_end_state_and_runs_the_rest_late():
    # S0 x=10 · S1 = move right x=18 · S2 = grow side 12 · S3 = move up y=8; span progress is 0, 2/3, 1 per span
    video = _video(["move_right", "grow", "move_up"], span=1)
    clean = span_frame_states(video.states, BOUNDS, HOLD)
    late = SWITCH_FAILURES["delay"](video, clean, SwitchFailureConfig(delay_frames=2))
    assert [_geometry(f)[:3] for f in late] == [
        (10.0, 16.0, 8.0),
        (round(10 + 8 * 2 / 3, 6), 16.0, 8.0),
        (18.0, 16.0, 8.0),
        (18.0, 16.0, 8.0),  # frames 3, 4: the switch chunk keeps frame 2 (S1) ...
        (18.0, 16.0, 8.0),
        (18.0, 16.0, 8.0),  # ... and frame 5 is clean frame 3 (the grow at progress 0): no change in the chunk
        (18.0, 16.0, round(8 + 4 * 2 / 3, 6)),  # clean frame 4
        (18.0, 16.0, 12.0),  # clean frame 5
        (18.0, 16.0, 12.0),  # clean frame 6 (move up at progress 0); the move up is cut
    ]
    assert late[:3] == clean[:3] and late[5:] == clean[3:7]
    # one frame late: the grow starts on the chunk's last frame
    one = SWITCH_FAILURES["delay"](video, clean, SwitchFailureConfig(delay_frames=1))
    assert one[3] == clean[2] and one[4:] == clean[3:8]
    # a `stay` switch span has no event to be late with
    assert SWITCH_FAILURES["delay"](_video(["move_right", "stay", "grow"]), clean, SwitchFailureConfig()) is None


def test_blend_mixes_the_old_event_continuing_with_the_new_one():
    # old event move right (Δx = +8), new event grow (Δside = +4 from 8); w = 0.25: the switch span ends at
    # x = 18 + 0.75·8 = 24, side = 8 + 0.25·4 = 9, then the move up (Δy = −8) follows from there
    video = _video(["move_right", "grow", "move_up"], span=1)
    clean = span_frame_states(video.states, BOUNDS, HOLD)
    out = SWITCH_FAILURES["blend"](video, clean, SwitchFailureConfig(blend_new_weight=0.25))
    assert out[:3] == clean[:3]
    got = [_geometry(f)[:3] for f in out[3:]]
    assert got == [
        (18.0, 16.0, 8.0),
        (round(18 + 6 * 2 / 3, 6), 16.0, round(8 + 1 * 2 / 3, 6)),
        (24.0, 16.0, 9.0),
        (24.0, 16.0, 9.0),
        (24.0, round(16 - 8 * 2 / 3, 6), 9.0),
        (24.0, 8.0, 9.0),
    ]
    # a `stay` switch span: the old event just keeps going at 1 − w
    stay = _video(["move_right", "stay", "grow"], span=1)
    out = SWITCH_FAILURES["blend"](stay, span_frame_states(stay.states, BOUNDS, HOLD), SwitchFailureConfig())
    assert _geometry(out[5])[:3] == (24.0, 16.0, 8.0)
    # not applicable: a colour change before the switch, the same move again (nothing mixed), leaving the frame
    for events, initial in [
        (["turn_blue", "grow", "move_up"], None),
        (["move_right", "move_right", "move_up"], ObjectState("square", "red", 6.0, 16.0, 8.0)),
        (["move_right", "grow", "move_up"], ObjectState("square", "red", 18.0, 16.0, 8.0)),
    ]:
        v = _video(events, initial) if initial else _video(events)
        assert SWITCH_FAILURES["blend"](v, span_frame_states(v.states, BOUNDS, HOLD), SwitchFailureConfig()) is None


def test_apply_switch_failure_draws_nothing_at_zero_rates_and_takes_the_first_that_applies():
    video = _video(["move_right", "grow", "move_up"])
    clean = span_frame_states(video.states, BOUNDS, HOLD)
    rng = random.Random(5)
    assert apply_switch_failure(video, clean, SwitchFailureConfig(rates={"delay": 0.0}), rng) == (clean, "clean")
    assert rng.random() == random.Random(5).random()
    cfg = SwitchFailureConfig(rates={"delay": 1.0, "blend": 1.0})
    assert apply_switch_failure(video, clean, cfg, rng)[1] == "delay"
    stay = _video(["move_right", "stay", "grow"])  # delay does not apply to a `stay` span: blend is next
    assert apply_switch_failure(stay, span_frame_states(stay.states, BOUNDS, HOLD), cfg, rng)[1] == "blend"


def test_config_names_unknown_failures_and_bad_rates():
    with pytest.raises(ValueError, match="unknown switch failures \\['lag'\\]"):
        SwitchFailureConfig(rates={"lag": 0.5})
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\].*'blend': 1.5"):
        SwitchFailureConfig(rates={"blend": 1.5})


def test_training_examples_plant_failures_at_their_rates(shapes_config):
    from plotline.world.executor_training import example
    from plotline.world.state_latent import WorldStateDecoder

    world, video = shapes_config.world, shapes_config.video
    cfg = SwitchFailureConfig(rates={"delay": 0.5, "blend": 1.0})
    rng, counts, decoder = random.Random(2), {"clean": 0, "delay": 0, "blend": 0}, WorldStateDecoder()
    for _ in range(200):
        ex = example(rng, world, video, failures=cfg)
        counts[ex.failure] += 1
        out = (decoder(ex.latents[None])[0].numpy() * 255).round().astype(np.uint8)
        assert (out != ex.frames).any(axis=(1, 2, 3)).sum() <= 1  # the latents encode the failed video
    assert 70 <= counts["delay"] <= 130 and counts["blend"] >= 20 and counts["clean"] >= 20
    clean = [example(random.Random(9), world, video, failures=SwitchFailureConfig()) for _ in range(2)]
    assert clean[0].failure == "clean" and np.array_equal(clean[0].frames, clean[1].frames)


def _scores(events, initial, failure, config, world):
    video = _video(events, initial)
    clean = span_frame_states(video.states, BOUNDS, HOLD)
    frames = clean if failure is None else SWITCH_FAILURES[failure](video, clean, config)
    assert frames is not None
    pixels = draw_frame_states(frames, 32, 32)
    steps = captions(initial, events)
    step = json.loads(judge_step(steps[1], list(pixels[3:6]), steps[0], world))
    instruction = ", then ".join(steps)
    temporal = json.loads(judge_temporal(instruction, list(pixels), None, world))
    return step["final_score"], temporal["final_score"]


@pytest.mark.parametrize(
    "events, initial",
    [
        (["move_right", "grow", "move_up"], ObjectState("square", "red", 10.0, 20.0, 8.0)),
        (["move_down", "move_right", "shrink"], ObjectState("circle", "green", 10.0, 10.0, 12.0)),
        (["grow", "move_left", "turn_blue"], ObjectState("triangle", "yellow", 20.0, 16.0, 8.0)),
        (["move_up", "stay", "stay"], ObjectState("square", "cyan", 16.0, 22.0, 9.0)),
    ],
)
def test_judges_score_failed_switches_lower(shapes_config, events, initial):
    """The switch chunk (frames 3..5, after the switch at k = 3) and the whole video, judged as the score stage
    judges them (step judge on the chunk vs the new step and the previous one; temporal judge on all frames). A move
    that does not stop at a `stay` step is still the instruction's one move to the temporal judge (it reads events,
    not distances): only the step judge sees that failure."""
    world = shapes_config.world
    clean_step, clean_temporal = _scores(events, initial, None, SwitchFailureConfig(), world)
    assert clean_step >= 9.0 and clean_temporal >= 9.0
    kinds = ["blend"] if events[1] == "stay" else ["delay", "blend"]
    for kind in kinds:
        step, temporal = _scores(events, initial, kind, SwitchFailureConfig(), world)
        assert step < clean_step - 3.0, (kind, step, clean_step)
        if events[1] == "stay":
            assert temporal <= clean_temporal
        else:
            assert temporal < clean_temporal - 1.0, (kind, temporal, clean_temporal)


@pytest.fixture(scope="module")
def shapes_config():
    from plotline.config import load_config

    return load_config(["configs/shapes.yaml"])


@pytest.mark.parametrize(
    "progress, strict, lenient", [(1.0, 10.0, 10.0), (0.75, 8.33, 10.0), (0.5, 5.56, 10.0), (0.25, 2.78, 8.33)]
)
def test_step_judge_credits_a_late_or_half_done_event_in_proportion(progress, strict, lenient):
    """A move of 8 px carried out to `progress` in the switch chunk (whole pixels: strength = progress exactly).
    Hand-computed action (= final) scores: 10·min(1, strength / full) with full = step_full_strength 0.9 (strict),
    and with full = step_event_threshold 0.3 when step_full_strength is unset (lenient: a half-done move passes)."""
    from plotline.world.config import WorldConfig
    from plotline.world.switch_failures import frame_state

    initial = ObjectState("square", "red", 8.0, 16.0, 8.0)
    states = Scenario(initial, ("grow", "move_right")).states(GEOMETRY)
    chunk = [frame_state(states[1], states[2], q) for q in (0.0, progress / 2, progress)]
    steps = captions(initial, ["grow", "move_right"])
    for full, expected in ((0.9, strict), (None, lenient)):
        world = WorldConfig(step_event_threshold=0.3, step_full_strength=full)
        reply = json.loads(judge_step(steps[1], list(draw_frame_states(chunk, 32, 32)), steps[0], world))
        assert reply["think"]["change_strengths"]["move_right"] == pytest.approx(progress, abs=1e-3)
        assert reply["action_score"] == pytest.approx(expected, abs=0.01), (full, reply["think"])
        assert reply["final_score"] == pytest.approx(expected, abs=0.01)


def test_step_judge_scores_a_one_frame_late_switch_as_partial(shapes_config):
    """Delay by one frame: the chunk shows S1, then the clean frames at progress 0 and 2/3 of the move (8 px → 5.33
    px, rasterised to 5 px: strength 0.625). The preset's strict judge credits 0.625 / 0.9 of the action; the
    lenient one (full credit from strength 0.3) scored it as a perfect switch."""

    initial = ObjectState("square", "red", 8.0, 16.0, 8.0)
    events = ["grow", "move_right", "stay"]
    video = _video(events, initial)
    late = SWITCH_FAILURES["delay"](
        video, span_frame_states(video.states, BOUNDS, HOLD), SwitchFailureConfig(delay_frames=1)
    )
    pixels = list(draw_frame_states(late, 32, 32)[3:6])
    steps = captions(initial, events)
    world = shapes_config.world
    assert world.step_full_strength == 0.9
    strict = json.loads(judge_step(steps[1], pixels, steps[0], world))
    lenient = json.loads(judge_step(steps[1], pixels, steps[0], world.model_copy(update={"step_full_strength": None})))
    strength = strict["think"]["change_strengths"]["move_right"]
    assert 0.55 <= strength <= 0.7
    assert strict["action_score"] == pytest.approx(10 * strength / 0.9, abs=0.02)
    assert lenient["action_score"] == 10.0


def test_step_full_strength_below_the_start_threshold_is_rejected():
    from plotline.world.config import WorldConfig

    with pytest.raises(ValueError, match="step_full_strength=0.2 is below step_event_threshold=0.3"):
        WorldConfig(step_event_threshold=0.3, step_full_strength=0.2)
