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

Streaming (`orchestration.stream_score`, docs/streaming_score.md): when the step's rollout is not committed yet,
the plans are judged at once and each plan's part of the rollout is judged as soon as the rollout publishes it
(plotline.store.parts.PartStream: a bounded wait that fails naming the missing part), while the rollout is still
generating the next plan. The judge session carries answers across parts (JudgeScorer.score), so the table is
the batch path's row for row (same order, same scores and replies; only measured latencies differ). Once the
rollout commits, the parts not yet read come from the committed artifact, whose rows must equal the streamed ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plotline.concurrency import stream_decision
from plotline.config import PlotlineConfig
from plotline.rewards.frames import PngCache
from plotline.rewards.judges import create_backend
from plotline.rewards.judges.base import JudgeRequest
from plotline.rewards.judges.scorer import JudgeOutcome, JudgeScorer
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
from plotline.store import Artifact, CorruptArtifact, Manifest
from plotline.store.parts import PartStream
from stages.base import InputSpec, StageContext, StageSpec, get_spec, register, stage_config_key


def read_video(path: str) -> np.ndarray:
    """Decode a video file into (T, H, W, 3) uint8 frames."""
    import imageio.v2 as imageio

    return np.stack(imageio.mimread(path, format="FFMPEG", memtest=False))


def rollout_frames(art: Artifact, row: dict, groups: dict) -> RolloutFrames:
    """The stored frames of a rollout row (its group file in `art`, read once per group) and its mp4, if any."""
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


@dataclass
class VideoItem:
    """One rollout row to judge: the row, its temporal and step requests, the judged window and its frames."""

    row: dict
    temporal: JudgeRequest
    step: JudgeRequest
    window: Any
    frames: RolloutFrames


@dataclass
class Judging:
    """The judges of one score run and what they have answered so far (plan outcomes, then one entry per row)."""

    cfg: Any
    by_plan: dict
    scorer: JudgeScorer
    aesthetic: Any
    aesthetic_model: str | None
    session: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    png: PngCache = field(default_factory=PngCache)
    sources: Counter = field(default_factory=Counter)
    items: list[VideoItem] = field(default_factory=list)
    temporal: list[JudgeOutcome] = field(default_factory=list)
    step: list[JudgeOutcome] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)

    def prepare(self, rows: list[dict], art: Artifact, ctx: StageContext) -> list[VideoItem]:
        """The judge requests of rollout `rows` (files read from `art`), in row order."""
        out = []
        for r in ctx.progress(rows, total=len(rows), description="frames"):
            plan = self.by_plan[r["plan_id"]]
            frames = rollout_frames(art, r, self.groups)
            whole, window, src = rollout_judge_frames(r, frames, self.cfg)
            self.sources.update(f"{k}:{v}" for k, v in src.items())
            switch = int(r["switch_step"])
            previous = list(plan["steps"])[switch - 1] if switch > 0 else None
            temporal, step = video_requests(
                plan["prompt"], r["step_prompt"], previous, whole, window, self.cfg, self.png
            )
            out.append(VideoItem(r, temporal, step, window, frames))
        return out

    def judge(self, items: list[VideoItem], first: list | None = None) -> list:
        """Judge `items` (after the requests `first`, whose outcomes are returned), PickScore included."""
        first = first or []
        outcomes = self.scorer.score(first + [i.temporal for i in items] + [i.step for i in items], self.session)
        n = len(items)
        self.items += items
        self.temporal += outcomes[len(first) : len(first) + n]
        self.step += outcomes[len(first) + n :]
        if self.aesthetic is not None and items:
            found = self.aesthetic.score([i.row["step_prompt"] for i in items], [i.window for i in items])
            self.values += [None if v is None else float(v) for v in found]
        else:
            self.values += [None] * n
        return outcomes[: len(first)]


def score_rows(plans: list[dict], plan_outcomes: list[JudgeOutcome], j: Judging) -> list[dict]:
    """The `scores` rows: one per plan, then temporal, step and PickScore rows per rollout row, in order."""
    rows = [
        outcome_row(f"plan:{p['plan_id']}", "plan", p["instruction_id"], p["plan_id"], None, o)
        for p, o in zip(plans, plan_outcomes)
    ]
    for item, temporal, step, value in zip(j.items, j.temporal, j.step, j.values):
        r = item.row
        ids = (r["instruction_id"], r["plan_id"], r["rollout_id"])
        rows.append(outcome_row(f"temporal:{r['rollout_id']}", "temporal", *ids, temporal))
        rows.append(outcome_row(f"step:{r['rollout_id']}", "step", *ids, step))
        rows.append(
            outcome_row(
                f"pickscore:{r['rollout_id']}",
                "pickscore",
                *ids,
                pickscore_outcome(
                    value, "no PickScore model and no programmatic stand-in", j.aesthetic_model or "none"
                ),
            )
        )
    return rows


def rollout_stream(ctx: StageContext) -> PartStream:
    """The stream of the rollout this score waits for: the attempt writing rollout at this step from this step's
    plans under this config (its header), or the committed version with that config key and plans."""
    rollout_key = stage_config_key(get_spec("rollout"), ctx.config)
    plans_id = ctx.inputs["plans"].manifest.manifest_id
    orch = ctx.config.orchestration

    def accepts(m: Manifest) -> bool:
        return m.config_hash == rollout_key and any(r.key == "plans" and r.manifest_id == plans_id for r in m.inputs)

    return PartStream(
        ctx.store,
        "rollout",
        ctx.step,
        matches=lambda h: h.get("config_hash") == rollout_key and h.get("inputs", {}).get("plans") == plans_id,
        accepts=accepts,
        table="rollouts.parquet",
        key_column="plan_id",
        timeout_s=orch.stream_timeout_s,
        poll_s=orch.stream_poll_s,
    )


def judge_streamed(ctx: StageContext, plans: list[dict], plan_reqs: list, j: Judging) -> list[JudgeOutcome]:
    """Judge the plans now and each plan's rollout part as it appears; record the committed rollout input."""
    plan_outcomes = j.judge([], plan_reqs)
    stream = rollout_stream(ctx)
    streamed: list[dict] = []
    for part in stream.follow([p["plan_id"] for p in plans]):
        streamed += part.rows
        j.judge(j.prepare(part.rows, part.source, ctx))
    art = stream.wait_committed()
    if art.read_table("rollouts.parquet").to_pylist() != streamed:
        raise CorruptArtifact(
            f"{art.uri}: the committed rollouts.parquet differs from the rows its parts published; score it again"
        )
    ctx.inputs["rollouts"] = art
    ctx.output.summary["stream"] = {
        "parts_before_commit": sum(1 for e, _ in stream.events if e == "part"),
        "parts_after_commit": len(plans) - sum(1 for e, _ in stream.events if e == "part"),
        "rollout_attempt": stream.attempt,
    }
    return plan_outcomes


def run(ctx: StageContext) -> None:
    """Score the step's plans and continuations; write scores.parquet and a status summary."""
    cfg = ctx.config.rewards
    plans = ctx.inputs["plans"].read_table("plans.parquet").to_pylist()
    provided = programmatic_rewards(ctx.config)
    provided.install()
    aesthetic, aesthetic_model = load_pickscore(cfg.pickscore), cfg.pickscore.model_path
    if aesthetic is None:
        aesthetic, aesthetic_model = provided.aesthetic, provided.aesthetic_model
    j = Judging(
        cfg, {p["plan_id"]: p for p in plans}, JudgeScorer(create_backend(cfg), cfg), aesthetic, aesthetic_model
    )

    gt = ground_truth_steps(ctx)
    plan_reqs = [plan_request(p, cfg, gt.get(p["instruction_id"])) for p in plans]
    if "rollouts" in ctx.deferred:
        plan_outcomes = judge_streamed(ctx, plans, plan_reqs, j)
    else:
        art = ctx.inputs["rollouts"]
        plan_outcomes = j.judge(j.prepare(art.read_table("rollouts.parquet").to_pylist(), art, ctx), plan_reqs)
    rows = score_rows(plans, plan_outcomes, j)
    critic_reward = ctx.config.reflect.critic_reward
    if critic_reward.enabled:
        from plotline.reflect.critic import build_critic
        from plotline.reflect.reward import critic_reward_rows

        items = [(i.row, j.by_plan[i.row["plan_id"]], i.frames) for i in j.items]
        rows += critic_reward_rows(build_critic(ctx.config), items, ctx.config.reflect)
    judged = ["plan", "temporal", "step"] + (["pickscore"] if aesthetic is not None else [])
    check_unscored(rows, judged, cfg.max_unscored_fraction, f"score step {ctx.step}")
    ctx.output.write_table("scores.parquet", "scores", rows)
    statuses: dict[str, dict[str, int]] = {}
    for row in rows:
        statuses.setdefault(row["judge"], {}).setdefault(row["status"], 0)
        statuses[row["judge"]][row["status"]] += 1
    means = {
        k: float(np.mean([r["score"] for r in rows if r["judge"] == k and r["score"] is not None]))
        for k in statuses
        if any(r["score"] is not None for r in rows if r["judge"] == k)
    }
    ctx.output.summary.update(
        {
            "status_counts": statuses,
            "cache_hits": sum(r["cached"] for r in rows),
            "judge_backend": cfg.judge_backend,
            "frame_sources": dict(j.sources),
            "score_means": means,
            "aesthetic_model": aesthetic_model or "none",
        }
    )


def streamed_inputs(config: PlotlineConfig) -> tuple[str, ...]:
    """`rollouts` when score streams the rollout (plotline.concurrency.stream_decision), else nothing."""
    return ("rollouts",) if stream_decision(config).concurrent else ()


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
        streamed=streamed_inputs,
    )
)
