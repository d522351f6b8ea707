"""score stage: judge every plan (plan judge) and continuation (temporal / step judges, PickScore) of a step.

Reads `plans.parquet` and `rollouts.parquet` (columns used: rollout_id, plan_id, instruction_id, switch_step,
video_path — an mp4 inside the rollouts artifact). Judge calls go through the configured backend with a
cache keyed by (model, prompt, frames hash); every raw reply, latency and status lands in `scores.parquet`.
"""
from __future__ import annotations

import numpy as np

from plotline.rewards.judges import create_backend
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.pickscore import load_pickscore
from plotline.rewards.scoring import outcome_row, pickscore_outcome, plan_request, step_window, video_requests
from stages.base import InputSpec, StageContext, StageSpec, register


def read_frames(path: str) -> np.ndarray:
    """Decode a video file into (T, H, W, 3) uint8 frames."""
    import imageio.v2 as imageio

    return np.stack(imageio.mimread(path, format="FFMPEG", memtest=False))


def run(ctx: StageContext) -> None:
    """Score the step's plans and continuations; write scores.parquet and a status summary."""
    cfg, video = ctx.config.rewards, ctx.config.video
    plans = ctx.inputs["plans"].read_table("plans.parquet").to_pylist()
    rollouts = ctx.inputs["rollouts"].read_table("rollouts.parquet").to_pylist()
    by_plan = {p["plan_id"]: p for p in plans}
    scorer = JudgeScorer(create_backend(cfg), cfg)
    pick = load_pickscore(cfg.pickscore)

    plan_reqs = [plan_request(p, cfg) for p in plans]
    video_items = []
    for r in ctx.progress(rollouts, total=len(rollouts), description="frames"):
        plan = by_plan[r["plan_id"]]
        frames = read_frames(ctx.inputs["rollouts"].local_path(r["video_path"]))
        window = step_window(len(frames), int(r["switch_step"]), video.target_latent_frames,
                             video.latent_frames_per_step, video.frames_per_chunk, cfg.frames.step_window)
        temporal, step, win = video_requests(plan["prompt"], list(plan["steps"]), int(r["switch_step"]), frames,
                                             window, cfg)
        video_items.append((r, temporal, step, win))

    outcomes = scorer.score(plan_reqs + [t for _, t, _, _ in video_items] + [s for _, _, s, _ in video_items])
    n_plans, n_roll = len(plan_reqs), len(video_items)
    rows = [outcome_row(f"plan:{p['plan_id']}", "plan", p["instruction_id"], p["plan_id"], None, o)
            for p, o in zip(plans, outcomes[:n_plans])]
    for i, (r, _, _, win) in enumerate(video_items):
        ids = (r["instruction_id"], r["plan_id"], r["rollout_id"])
        rows.append(outcome_row(f"temporal:{r['rollout_id']}", "temporal", *ids, outcomes[n_plans + i]))
        rows.append(outcome_row(f"step:{r['rollout_id']}", "step", *ids, outcomes[n_plans + n_roll + i]))
        if pick is None:
            value, reason = None, "rewards.pickscore.model_path is not set"
        else:
            value, reason = float(pick.score([by_plan[r["plan_id"]]["steps"][int(r["switch_step"])]], [win])[0]), None
        rows.append(outcome_row(f"pickscore:{r['rollout_id']}", "pickscore", *ids,
                                pickscore_outcome(value, reason, cfg.pickscore.model_path or "none")))
    ctx.output.write_table("scores.parquet", "scores", rows)
    statuses: dict[str, dict[str, int]] = {}
    for row in rows:
        statuses.setdefault(row["judge"], {}).setdefault(row["status"], 0)
        statuses[row["judge"]][row["status"]] += 1
    ctx.output.summary.update({"status_counts": statuses, "cache_hits": sum(r["cached"] for r in rows),
                               "judge_backend": cfg.judge_backend})


register(StageSpec(
    name="score",
    summary="Judge plans and continuations (plan / temporal / step judges, PickScore); keep every raw reply",
    inputs=(InputSpec("plans", stage="plan"), InputSpec("rollouts", stage="rollout")),
    outputs=("scores",),
    config_sections=("rewards", "video"),
    run=run,
))
