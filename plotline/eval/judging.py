"""Scoring benchmark videos: temporal-following judges over frames sampled from the whole video (first and last
included), and an aesthetic score (PickScore, or the shapes world's image statistics).

Each judged video yields one `eval_results` row per metric: `score` (the aggregated R_video in [0, 1], whose
mean is the Temporal-Following score) and every sub-score normalised to [0, 1]; an unscored reply yields the
same rows with a null value, status `unscored` and the reason. Raw replies are kept as `scores` rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plotline.eval.config import EvalConfig, EvalJudge
from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import encode_png, whole_video_indices
from plotline.rewards.judges.base import JudgeRequest
from plotline.rewards.judges.scorer import JudgeOutcome, JudgeScorer
from plotline.rewards.prompts import temporal_judge_prompt

SUB_METRICS = (
    "temporal_order_score",
    "physical_plausibility_score",
    "visual_consistency_score",
    "prompt_alignment_score",
    "final_score",
)
"""Temporal-judge sub-scores reported besides the aggregate (plus `frame_mean`, the mean per-frame score)."""
JUDGE_METRICS = ("score", "frame_mean") + SUB_METRICS
"""Every metric a temporal judge contributes per video."""


@dataclass
class JudgedVideo:
    """What a judge needs about one video: ids, the instruction, ground-truth steps, and its frames."""

    sample_id: str
    instruction: str
    steps: tuple[str, ...]
    frames: np.ndarray


def judge_rewards_config(judge: EvalJudge, rewards: RewardsConfig) -> RewardsConfig:
    """The rewards config a judge runs under: its backend, model, endpoint and frame count on top of `rewards`."""
    models = rewards.models.model_copy(update={"vision": judge.model} if judge.model else {})
    frames = rewards.frames.model_copy(update={"temporal_num_frames": judge.num_frames} if judge.num_frames else {})
    return rewards.model_copy(
        update={
            "judge_backend": judge.backend,
            "models": models,
            "frames": frames,
            "openai": judge.openai or rewards.openai,
        }
    )


def temporal_request(video: JudgedVideo, rcfg: RewardsConfig) -> JudgeRequest:
    """The temporal-following request for one video: frames spread over the whole video, last frame included;
    ground truth travels in meta for programmatic judges."""
    idx = whole_video_indices(len(video.frames), rcfg.frames.temporal_num_frames)
    system, user = temporal_judge_prompt(video.instruction, len(idx))
    images = tuple(encode_png(video.frames[i], rcfg.frames.image_size) for i in idx)
    return JudgeRequest(
        "temporal",
        rcfg.models.vision,
        system,
        user,
        images=images,
        n_frames=len(idx),
        meta={"instruction": video.instruction, "steps": list(video.steps) or None, "sample_id": video.sample_id},
    )


def make_scorer(judge: EvalJudge, rewards: RewardsConfig, world_config=None) -> JudgeScorer:
    """A JudgeScorer for `judge` (the programmatic backend gets the shapes world's judges registered)."""
    from plotline.rewards.judges import create_backend

    rcfg = judge_rewards_config(judge, rewards)
    if judge.backend == "programmatic":
        from plotline.world.judges.backend import register_world_judges

        register_world_judges(world_config)
    return JudgeScorer(create_backend(rcfg, judge.backend), rcfg)


def metric_values(outcome: JudgeOutcome) -> dict[str, float | None]:
    """metric → value in [0, 1] (None when unscored) for one temporal-judge outcome."""
    res = outcome.result
    if not res.usable:
        return {m: None for m in JUDGE_METRICS}
    fields = res.fields
    out: dict[str, float | None] = {"score": float(res.score)}
    frames = fields.get("frame_scores") or []
    out["frame_mean"] = float(np.mean(frames)) / 10.0 if frames else None
    for m in SUB_METRICS:
        out[m] = float(fields[m]) / 10.0 if m in fields else None
    return out


def judge_videos(
    judge: EvalJudge, scorer: JudgeScorer, videos: Sequence[JudgedVideo]
) -> tuple[list[JudgeOutcome], float]:
    """Judge every video in one batch (the backend's concurrency applies); returns outcomes and seconds."""
    start = time.perf_counter()
    requests = [temporal_request(v, scorer.config) for v in videos]
    return scorer.score(requests), time.perf_counter() - start


def reply_row(judge: EvalJudge, sample_id: str, prompt_id: str, condition: str, outcome: JudgeOutcome) -> dict:
    """A `scores` row keeping one raw judge reply: judge kind `temporal`, score_id `<judge name>:<sample id>`,
    plan_id `<condition>/<prompt id>`, rollout_id the sample id."""
    req, resp, res = outcome.request, outcome.response, outcome.result
    return {
        "score_id": f"{judge.name}:{sample_id}",
        "judge": "temporal",
        "instruction_id": prompt_id,
        "plan_id": f"{condition}/{prompt_id}",
        "rollout_id": sample_id,
        "status": res.status,
        "score": res.score,
        "reason": res.reason,
        "fields_json": json.dumps(res.fields, default=str),
        "raw": resp.raw,
        "model": req.model,
        "cache_key": req.cache_key,
        "n_frames": len(req.images),
        "latency_s": float(resp.latency_s),
        "attempts": int(resp.attempts),
        "cached": bool(resp.cached),
    }


# --- aesthetic ---------------------------------------------------------------------------------------------------
AestheticFn = Callable[[Sequence[str], Sequence[Sequence[np.ndarray]]], tuple[np.ndarray, np.ndarray]]


def aesthetic_scorer(config: EvalConfig, rewards: RewardsConfig, world_config=None) -> tuple[str, AestheticFn] | None:
    """(name, fn) of the configured visual-quality score, or None. fn(prompts, frame lists) returns (value in
    [0, 1], native value): PickScore's value is (cos + 1) / 2 and its native value the configured normalisation
    (`rewards.pickscore.normalisation`); the image-statistics score is in [0, 1] natively."""
    mode = config.aesthetic
    if mode == "none":
        return None
    if mode == "pickscore" or (mode == "auto" and rewards.pickscore.model_path):
        if not rewards.pickscore.model_path:
            raise ValueError("eval.aesthetic is `pickscore` but rewards.pickscore.model_path is not set")
        from plotline.rewards.pickscore import PickScorer

        cosine_cfg = rewards.pickscore.model_copy(update={"normalisation": "cosine"})
        scorer = PickScorer(cosine_cfg, rewards.local.device)
        logit_scale = float(scorer.model.logit_scale.detach().exp())
        norm, scale = rewards.pickscore.normalisation, rewards.pickscore.scale

        def pickscore(prompts, videos):
            unit = np.asarray(scorer.score(prompts, videos), dtype=np.float64)
            cos = 2.0 * unit - 1.0
            native = {"cosine": unit, "logit": logit_scale * cos, "scaled": logit_scale * cos / scale}[norm]
            return unit, native

        return "pickscore", pickscore
    from plotline.world.judges.quality import ImageStatsScorer

    threshold = getattr(world_config, "foreground_threshold", 48)
    stats = ImageStatsScorer(threshold)

    def image_stats(prompts, videos):
        values = stats.score(prompts, videos)
        return values, values

    return "image_stats", image_stats


def aesthetic_frames(frames: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` frames spread over the whole video (first and last included)."""
    return [frames[i] for i in whole_video_indices(len(frames), count)]


def result_row(
    video_meta: dict[str, Any],
    judge: str,
    metric: str,
    value: float | None,
    raw_value: float | None,
    status: str,
    reason: str | None,
) -> dict:
    """One `eval_results` row."""
    return {
        **video_meta,
        "judge": judge,
        "metric": metric,
        "value": value,
        "raw_value": raw_value,
        "status": status,
        "reason": reason,
    }
