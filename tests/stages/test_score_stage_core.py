"""The score stage's core: request building (whole video incl. last frame, transition window) and rows."""
import numpy as np
import pyarrow as pa

from data_contracts import validate
from data_contracts.registry import get_kind
from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import whole_video_indices
from plotline.rewards.judges import create_backend
from plotline.rewards.judges.programmatic import register_programmatic_judge, unregister_programmatic_judge
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.scoring import outcome_row, pickscore_outcome, plan_request, transition_window, video_requests
import stages.score  # noqa: F401  (registers the stage)


def test_whole_video_sampling_reaches_last_frame():
    assert whole_video_indices(81, 8)[0] == 0 and whole_video_indices(81, 8)[-1] == 80
    assert whole_video_indices(5, 8) == [0, 1, 2, 3, 4]


def test_transition_window_chunk_and_span_come_from_the_rollout_row():
    # K=21 latent frames -> 81 pixel frames (Wan x4); fork at latent 6 (not a multiple of L=12): chunk [6, 9)
    row = {"transition_start": 6, "transition_end": 9, "num_latent_frames": 21, "num_video_frames": 81,
           "span_starts": [0, 6]}
    a, b = transition_window(row, "chunk")
    assert (a, b) == (21, 33)  # latent 6..9 -> pixel 1 + 4*(6-1) .. 1 + 4*(9-1)
    assert transition_window(row, "span") == (a, 81)  # the new step runs to the end of the video
    assert transition_window({**row, "span_starts": [0, 6, 15]}, "span")[1] == 57  # ...or to the next switch


def test_requests_and_rows_validate_against_contract():
    cfg = RewardsConfig.model_validate({"frames": {"temporal_num_frames": 4, "step_num_frames": 2}})
    plan = {"plan_id": "p1", "instruction_id": "i1", "prompt": "a square moves right, then turns blue",
            "steps": ["A red square sits left.", "The square turns blue."]}
    preq = plan_request(plan, cfg)
    assert "1. A red square sits left." in preq.user  # unsmoothed steps, numbered
    frames = np.random.default_rng(0).integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
    temporal, step = video_requests(plan["prompt"], plan["steps"][1], plan["steps"][0], list(frames[[0, 3, 6, 8]]),
                                    list(frames[[5, 7]]), cfg)
    assert temporal.n_frames == 4 and len(step.images) == 2
    assert "The square turns blue." in step.user and "A red square sits left." in step.user
    assert temporal.meta["steps"] is None  # video judges get no ground truth

    register_programmatic_judge("plan", lambda r: "not json")
    register_programmatic_judge("temporal", lambda r: '{"frame_scores": [5, 5, 5, 5], "temporal_order_score": 5, '
                                '"physical_plausibility_score": 5, "visual_consistency_score": 5, '
                                '"prompt_alignment_score": 5, "final_score": 5}')
    try:
        scorer = JudgeScorer(create_backend(cfg), cfg)
        p_out, t_out = scorer.score([preq, temporal])
    finally:
        unregister_programmatic_judge("plan")
        unregister_programmatic_judge("temporal")
    rows = [outcome_row("plan:p1", "plan", "i1", "p1", None, p_out),
            outcome_row("temporal:r1", "temporal", "i1", "p1", "r1", t_out),
            outcome_row("pickscore:r1", "pickscore", "i1", "p1", "r1", pickscore_outcome(None, "no model", "none"))]
    assert rows[0]["status"] == "unscored" and rows[0]["score"] is None and rows[0]["raw"] == "not json"
    assert rows[1]["status"] == "ok" and rows[1]["score"] == 0.5 and rows[1]["n_frames"] == 4
    report = validate("scores", pa.Table.from_pylist(rows, schema=get_kind("scores").schema))
    assert report.success, report
