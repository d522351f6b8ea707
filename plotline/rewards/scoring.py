"""Build the judge requests of one step (plans and continuations) and turn outcomes into `scores` rows."""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import encode_png, latent_to_pixel_window, whole_video_indices, window_indices
from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.scorer import JudgeOutcome
from plotline.rewards.prompts import plan_judge_prompt, step_judge_prompt, temporal_judge_prompt
from plotline.rewards.schemas import ParseResult


def plan_request(plan: Mapping[str, Any], config: RewardsConfig) -> JudgeRequest:
    """The plan judge's request for one plan row: the instruction vs the UNSMOOTHED `steps` (DESIGN §10)."""
    system, user = plan_judge_prompt(plan["prompt"], list(plan["steps"]))
    return JudgeRequest("plan", config.models.text, system, user, meta={"plan_id": plan["plan_id"]})


def step_window(num_pixel_frames: int, switch_step: int, target_latent_frames: int, latent_frames_per_step: int,
                frames_per_chunk: int, window: str) -> tuple[int, int]:
    """Pixel-frame window of the transition: the first chunk after the switch (`chunk`) or the new step's whole
    span (`span`). The VAE's temporal compression is inferred from the decoded length (Wan: 4)."""
    k = switch_step * latent_frames_per_step
    end = k + (frames_per_chunk if window == "chunk" else latent_frames_per_step)
    compression = max(1, round((num_pixel_frames - 1) / max(1, target_latent_frames - 1)))
    return latent_to_pixel_window(k, min(end, target_latent_frames), num_pixel_frames, compression)


def video_requests(instruction: str, steps: Sequence[str], switch_step: int, frames: np.ndarray,
                   window: tuple[int, int], config: RewardsConfig, meta: Optional[dict] = None
                   ) -> tuple[JudgeRequest, JudgeRequest, list[np.ndarray]]:
    """(temporal request over the WHOLE video incl. its last frame, step request over the transition window,
    the window frames for PickScore) for one continuation's decoded frames (T, H, W, 3) uint8."""
    fc = config.frames
    whole = [frames[i] for i in whole_video_indices(len(frames), fc.temporal_num_frames)]
    win = [frames[i] for i in window_indices(window[0], window[1], fc.step_num_frames)]
    system, user = temporal_judge_prompt(instruction, len(whole))
    temporal = JudgeRequest("temporal", config.models.vision, system, user,
                            images=tuple(encode_png(f, fc.image_size) for f in whole), n_frames=len(whole),
                            meta=dict(meta or {}))
    previous = steps[switch_step - 1] if switch_step > 0 else None
    system, user = step_judge_prompt(steps[min(switch_step, len(steps) - 1)], previous, len(win))
    step = JudgeRequest("step", config.models.vision, system, user,
                        images=tuple(encode_png(f, fc.image_size) for f in win), n_frames=len(win),
                        meta=dict(meta or {}))
    return temporal, step, win


def outcome_row(score_id: str, judge: str, instruction_id: str, plan_id: str, rollout_id: Optional[str],
                outcome: JudgeOutcome) -> dict[str, Any]:
    """One `scores` row of a judge outcome (raw reply, latency, attempts and cache hit kept)."""
    req, resp, res = outcome.request, outcome.response, outcome.result
    return {"score_id": score_id, "judge": judge, "instruction_id": instruction_id, "plan_id": plan_id,
            "rollout_id": rollout_id, "status": res.status, "score": res.score, "reason": res.reason,
            "fields_json": json.dumps(res.fields, default=str), "raw": resp.raw, "model": req.model,
            "cache_key": req.cache_key, "n_frames": len(req.images), "latency_s": float(resp.latency_s),
            "attempts": int(resp.attempts), "cached": bool(resp.cached)}


def pickscore_outcome(value: Optional[float], reason: Optional[str], model: str) -> JudgeOutcome:
    """A PickScore result wrapped as an outcome (unscored with `reason` when no value)."""
    if value is None or not np.isfinite(value):
        result = ParseResult(status="unscored", reason=reason or "PickScore produced no value")
    else:
        result = ParseResult(status="ok", score=float(value), fields={"pickscore": float(value)})
    req = JudgeRequest("pickscore", model, "", "")
    return JudgeOutcome(req, JudgeResponse(None, 0.0, error=None if value is not None else reason), result)
