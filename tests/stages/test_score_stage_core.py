"""The score stage's core: which frames each judge sees (from rollout rows), requests with the programmatic
judges' meta, the `world` reward provider, and rows that validate against the contract."""

import json

import numpy as np
import pyarrow as pa
import pytest

import stages.score  # noqa: F401  (registers the stage)
from data_contracts import validate
from data_contracts.registry import get_kind
from plotline.config import load_config
from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import whole_video_indices
from plotline.rewards.judges import create_backend
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.scoring import (
    RolloutFrames,
    judge_frame_indices,
    outcome_row,
    pickscore_outcome,
    plan_request,
    programmatic_rewards,
    rollout_judge_frames,
    transition_window,
    video_requests,
)


def _row(**kw):
    row = {
        "transition_start": 12,
        "transition_end": 15,
        "num_latent_frames": 21,
        "num_video_frames": 81,
        "span_starts": [0, 12],
        "sampled_frame_indices": list(range(81)),
        "fork_frame": 12,
    }
    row.update(kw)
    return row


def test_whole_video_sampling_reaches_last_frame():
    assert whole_video_indices(81, 8)[0] == 0 and whole_video_indices(81, 8)[-1] == 80
    assert whole_video_indices(5, 8) == [0, 1, 2, 3, 4]


def test_transition_window_from_the_rollout_row():
    # Wan VAE (81 pixel frames for 21 latent frames): the chunk at latent 12..15 decodes to pixels 45..57
    assert transition_window(_row(), "chunk") == (45, 57)
    assert transition_window(_row(), "span") == (45, 81)
    # a fork at k = 6 of a span starting at 6 (not switch_step · L)
    assert transition_window(_row(transition_start=6, transition_end=9, span_starts=[0, 6]), "chunk") == (21, 33)
    # one frame per latent frame (the world decoder): the window is the latent window
    world = _row(transition_start=3, transition_end=6, num_latent_frames=9, num_video_frames=9, span_starts=[0, 3, 6])
    assert transition_window(world, "chunk") == (3, 6) and transition_window(world, "span") == (3, 6)


def test_rollouts_store_whole_video_and_window_frames():
    idx = judge_frame_indices(81, 21, 12, 15, 4)
    assert idx[0] == 0 and idx[-1] == 80 and {45, 56} <= set(idx)


def test_frames_come_from_storage_then_video_then_nearest():
    frames = np.arange(4)[:, None, None, None] * np.ones((4, 2, 2, 3), dtype=np.uint8)
    stored = RolloutFrames([0, 3, 6, 8], frames)
    picked, src = stored.pick([0, 8])
    assert src == "stored" and [int(f[0, 0, 0]) for f in picked] == [0, 3]
    picked, src = stored.pick([2, 3, 7])
    assert src == "nearest" and [int(f[0, 0, 0]) for f in picked] == [1, 2]
    video = np.arange(9)[:, None, None, None] * np.ones((9, 2, 2, 3), dtype=np.uint8)
    with_mp4 = RolloutFrames([0, 8], frames[:2], load_video=lambda: video)
    picked, src = with_mp4.pick([4, 5])
    assert src == "video" and [int(f[0, 0, 0]) for f in picked] == [4, 5]


def test_requests_carry_meta_for_programmatic_judges():
    cfg = RewardsConfig.model_validate({"frames": {"temporal_num_frames": 4, "step_num_frames": 2}})
    plan = {
        "plan_id": "p1",
        "instruction_id": "i1",
        "prompt": "a red square moves right, then turns blue",
        "steps": ["a red square moves to the right", "a red square turns blue"],
    }
    preq = plan_request(plan, cfg, ["a red square moves to the right", "a red square turns blue"])
    assert "1. a red square moves to the right" in preq.user
    assert preq.meta["plan_steps"] == plan["steps"] and preq.meta["gt_steps"] == plan["steps"]
    assert plan_request(plan, cfg, []).meta["gt_steps"] is None
    row = _row(
        transition_start=3,
        transition_end=6,
        num_latent_frames=9,
        num_video_frames=9,
        span_starts=[0, 3, 6],
        sampled_frame_indices=list(range(9)),
    )
    frames = np.random.default_rng(0).integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
    whole, window, src = rollout_judge_frames(row, RolloutFrames(list(range(9)), frames), cfg)
    assert len(whole) == 4 and np.array_equal(whole[-1], frames[8]) and len(window) == 2
    assert np.array_equal(window[0], frames[3]) and np.array_equal(window[-1], frames[5])
    assert src == {"temporal": "stored", "step": "stored"}
    temporal, step = video_requests(plan["prompt"], plan["steps"][1], plan["steps"][0], whole, window, cfg)
    assert temporal.n_frames == 4 and temporal.meta == {"instruction": plan["prompt"], "steps": None}
    assert step.meta == {"step": plan["steps"][1], "previous_step": plan["steps"][0]} and len(step.images) == 2


def test_world_provider_judges_through_the_programmatic_backend():
    from plotline.world.instructions import generate_instructions
    from plotline.world.render import render_scenario

    config = load_config(["configs/shapes.yaml"])
    provided = programmatic_rewards(config)
    assert set(provided.judges) == {"plan", "temporal", "step"} and provided.aesthetic is not None
    provided.install()
    ins = next(i for i in generate_instructions(config.world) if len(i.steps) == 2)
    video = render_scenario(ins.scenario, config.world, num_frames=9)
    plan = {"plan_id": "p", "prompt": ins.prompt, "steps": list(ins.steps) + ["x stays still"]}
    rewards = config.rewards
    temporal, step = video_requests(ins.prompt, ins.steps[1], ins.steps[0], list(video), list(video[5:9]), rewards)
    outcomes = JudgeScorer(create_backend(rewards), rewards).score(
        [plan_request(plan, rewards, list(ins.steps)), temporal, step]
    )
    assert [o.result.status for o in outcomes] == ["ok", "ok", "ok"]
    assert json.loads(outcomes[1].response.raw)["temporal_order_score"] == 10.0
    assert float(provided.aesthetic.score(["x"], [list(video)])[0]) > 0.5
    with pytest.raises(KeyError, match="not available"):
        programmatic_rewards(
            config.model_copy(update={"rewards": rewards.model_copy(update={"programmatic_provider": "nope"})})
        )
    assert (
        programmatic_rewards(
            config.model_copy(update={"rewards": rewards.model_copy(update={"programmatic_provider": None})})
        ).judges
        == {}
    )


def test_rows_validate_against_contract():
    cfg = RewardsConfig.model_validate({"frames": {"temporal_num_frames": 4, "step_num_frames": 2}})
    plan = {
        "plan_id": "p1",
        "instruction_id": "i1",
        "prompt": "a square moves right, then turns blue",
        "steps": ["A red square sits left.", "The square turns blue."],
    }
    frames = list(np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8))
    temporal, _ = video_requests(plan["prompt"], plan["steps"][1], plan["steps"][0], frames, frames[:2], cfg)
    register_programmatic_judge("plan", lambda r: "not json")
    register_programmatic_judge(
        "temporal",
        lambda r: (
            '{"frame_scores": [5, 5, 5, 5], "temporal_order_score": 5, '
            '"physical_plausibility_score": 5, "visual_consistency_score": 5, '
            '"prompt_alignment_score": 5, "final_score": 5}'
        ),
    )
    try:
        scorer = JudgeScorer(create_backend(cfg), cfg)
        p_out, t_out = scorer.score([plan_request(plan, cfg), temporal])
    finally:
        unregister_programmatic_judge("plan")
        unregister_programmatic_judge("temporal")
    rows = [
        outcome_row("plan:p1", "plan", "i1", "p1", None, p_out),
        outcome_row("temporal:r1", "temporal", "i1", "p1", "r1", t_out),
        outcome_row("pickscore:r1", "pickscore", "i1", "p1", "r1", pickscore_outcome(None, "no model", "none")),
    ]
    assert rows[0]["status"] == "unscored" and rows[0]["score"] is None and rows[0]["raw"] == "not json"
    assert rows[1]["status"] == "ok" and rows[1]["score"] == 0.5 and rows[1]["n_frames"] == 4
    report = validate("scores", pa.Table.from_pylist(rows, schema=get_kind("scores").schema))
    assert report.success, report
