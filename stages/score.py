"""score stage: judge every plan (plan judge) and continuation (temporal / step judges, PickScore) of a step.

Reads `plans.parquet`, `rollouts.parquet` (fork frame, transition chunk, step prompt, stored frames and the
optional mp4 per row; see plotline.rewards.scoring for which frames each judge sees) and the run's instructions
(ground-truth steps, shown to the plan judge only). Judge calls go through the configured backend with a cache
keyed by (model, prompt, frames hash); every raw reply, latency and status lands in `scores.parquet`. With
`rewards.programmatic_provider` set (the shapes world by default), its judges answer the `programmatic`
backend and its image-statistics stand-in scores the aesthetic term when no PickScore model is configured.
With `reflect.critic_reward.enabled`, the reflection critic also judges every span of every continuation (from
its switch step on, or all) and one `critic` row per continuation records the aggregated verdicts
(plotline.reflect.reward), an extra executor reward term kept apart from the step judge's rows.
A step where one judge's unscored share exceeds `rewards.max_unscored_fraction` fails with the reasons
(plotline.rewards.outage) and commits nothing.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from plotline.rewards.judges import create_backend
from plotline.rewards.judges.scorer import JudgeScorer
from plotline.rewards.outage import check_unscored
from plotline.rewards.pickscore import load_pickscore
from plotline.rewards.scoring import (
    RolloutFrames,
    outcome_row,
    pickscore_outcome,
    plan_request,
    programmatic_rewards,
    rollout_judge_frames,
    video_requests,
)
from stages.base import InputSpec, StageContext, StageSpec, register


def read_video(path: str) -> np.ndarray:
    """Decode a video file into (T, H, W, 3) uint8 frames."""
    import imageio.v2 as imageio

    return np.stack(imageio.mimread(path, format="FFMPEG", memtest=False))


def rollout_frames(ctx: StageContext, row: dict, groups: dict) -> RolloutFrames:
    """The stored frames of a rollout row (its group file, read once per group) and its mp4, if any."""
    art = ctx.inputs["rollouts"]
    if row["frames_path"] not in groups:
        groups[row["frames_path"]] = art.read_tensors(row["frames_path"])["frames"].numpy()
    video = row.get("video_path")
    return RolloutFrames(
        list(row["sampled_frame_indices"]),
        groups[row["frames_path"]][int(row["group_index"])],
        (lambda: read_video(art.local_path(video))) if video else None,
    )


def ground_truth_steps(ctx: StageContext) -> dict[str, list[str]]:
    """instruction_id → ground-truth steps of the run's instructions (empty lists when none are known)."""
    rows = ctx.inputs["instructions"].read_table("instructions.parquet").to_pylist()
    return {r["instruction_id"]: list(r.get("steps") or []) for r in rows}


def run(ctx: StageContext) -> None:
    """Score the step's plans and continuations; write scores.parquet and a status summary."""
    cfg = ctx.config.rewards
    plans = ctx.inputs["plans"].read_table("plans.parquet").to_pylist()
    rollouts = ctx.inputs["rollouts"].read_table("rollouts.parquet").to_pylist()
    by_plan = {p["plan_id"]: p for p in plans}
    provided = programmatic_rewards(ctx.config)
    provided.install()
    scorer = JudgeScorer(create_backend(cfg), cfg)
    aesthetic, aesthetic_model = load_pickscore(cfg.pickscore), cfg.pickscore.model_path
    if aesthetic is None:
        aesthetic, aesthetic_model = provided.aesthetic, provided.aesthetic_model

    gt = ground_truth_steps(ctx)
    plan_reqs = [plan_request(p, cfg, gt.get(p["instruction_id"])) for p in plans]
    video_items, groups, sources, frames_of = [], {}, Counter(), []
    for r in ctx.progress(rollouts, total=len(rollouts), description="frames"):
        plan = by_plan[r["plan_id"]]
        frames_of.append(rollout_frames(ctx, r, groups))
        whole, window, src = rollout_judge_frames(r, frames_of[-1], cfg)
        sources.update(f"{k}:{v}" for k, v in src.items())
        switch = int(r["switch_step"])
        previous = list(plan["steps"])[switch - 1] if switch > 0 else None
        temporal, step = video_requests(plan["prompt"], r["step_prompt"], previous, whole, window, cfg)
        video_items.append((r, temporal, step, window))

    outcomes = scorer.score(plan_reqs + [t for _, t, _, _ in video_items] + [s for _, _, s, _ in video_items])
    n_plans, n_roll = len(plan_reqs), len(video_items)
    rows = [
        outcome_row(f"plan:{p['plan_id']}", "plan", p["instruction_id"], p["plan_id"], None, o)
        for p, o in zip(plans, outcomes[:n_plans])
    ]
    values = (
        aesthetic.score([r["step_prompt"] for r, *_ in video_items], [w for *_, w in video_items])
        if aesthetic is not None and video_items
        else [None] * n_roll
    )
    for i, (r, _, _, _) in enumerate(video_items):
        ids = (r["instruction_id"], r["plan_id"], r["rollout_id"])
        rows.append(outcome_row(f"temporal:{r['rollout_id']}", "temporal", *ids, outcomes[n_plans + i]))
        rows.append(outcome_row(f"step:{r['rollout_id']}", "step", *ids, outcomes[n_plans + n_roll + i]))
        value = None if values[i] is None else float(values[i])
        rows.append(
            outcome_row(
                f"pickscore:{r['rollout_id']}",
                "pickscore",
                *ids,
                pickscore_outcome(value, "no PickScore model and no programmatic stand-in", aesthetic_model or "none"),
            )
        )
    critic_reward = ctx.config.reflect.critic_reward
    if critic_reward.enabled:
        from plotline.reflect.critic import build_critic
        from plotline.reflect.reward import critic_reward_rows

        items = [(r, by_plan[r["plan_id"]], f) for (r, *_), f in zip(video_items, frames_of)]
        rows += critic_reward_rows(build_critic(ctx.config), items, ctx.config.reflect)
    judged = ["plan", "temporal", "step"] + (["pickscore"] if aesthetic is not None else [])
    check_unscored(rows, judged, cfg.max_unscored_fraction, f"score step {ctx.step}")
    ctx.output.write_table("scores.parquet", "scores", rows)
    statuses: dict[str, dict[str, int]] = {}
    for row in rows:
        statuses.setdefault(row["judge"], {}).setdefault(row["status"], 0)
        statuses[row["judge"]][row["status"]] += 1
    means = {
        j: float(np.mean([r["score"] for r in rows if r["judge"] == j and r["score"] is not None]))
        for j in statuses
        if any(r["score"] is not None for r in rows if r["judge"] == j)
    }
    ctx.output.summary.update(
        {
            "status_counts": statuses,
            "cache_hits": sum(r["cached"] for r in rows),
            "judge_backend": cfg.judge_backend,
            "frame_sources": dict(sources),
            "score_means": means,
            "aesthetic_model": aesthetic_model or "none",
        }
    )


register(
    StageSpec(
        name="score",
        summary="Judge plans and continuations (plan / temporal / step judges, PickScore, optional critic reward); "
        "keep every raw reply",
        inputs=(
            InputSpec("plans", stage="plan"),
            InputSpec("rollouts", stage="rollout"),
            InputSpec("instructions", stage="instructions", fixed_step=0),
        ),
        outputs=("scores",),
        config_sections=("rewards", "video", "world", "reflect.critic_reward", "reflect.critic", "reflect.threshold"),
        run=run,
    )
)
