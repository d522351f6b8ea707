"""Build the judge requests of one step (plans and continuations) and turn outcomes into `scores` rows.

Frames: a rollout row says where its continuation starts (`fork_frame`), which latent frames the trained
transition chunk covers (`transition_start`, `transition_end`) and which decoded frames its group file stores
(`sampled_frame_indices`, in `frames_path`); `video_path` (nullable) is its mp4. The temporal judge sees frames
spread over the WHOLE video, first and last included; the step judge and PickScore see the transition window
(the chunk, or the new step's whole span). Frames come from the stored (lossless) frames when they hold every
wanted index, else from the mp4, else the nearest stored frames (`RolloutFrames.pick`).

Programmatic rewards: `rewards.programmatic_provider` names a provider (registry below; `world` = the shapes
world, loaded lazily) that supplies the `programmatic` backend's judge functions and an image-statistics
stand-in for PickScore, used when no PickScore model is configured.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from plotline.rewards.config import RewardsConfig
from plotline.rewards.frames import (
    PngCache,
    encode_png,
    latent_to_pixel_window,
    png_pixels,
    whole_video_indices,
    window_indices,
)
from plotline.rewards.judges.base import JudgeRequest, JudgeResponse
from plotline.rewards.judges.scorer import JudgeOutcome
from plotline.rewards.prompts import plan_judge_prompt, step_judge_prompt, temporal_judge_prompt
from plotline.rewards.schemas import ParseResult


# --- programmatic reward providers ------------------------------------------------------------------------------
class AestheticScorer(Protocol):
    """What the score stage needs of PickScore or a stand-in: one score per (prompt, frames) pair."""

    def score(self, prompts: Sequence[str], videos: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """One score per pair."""
        ...


@dataclass
class ProgrammaticRewards:
    """What a provider supplies: judge functions by kind (for the `programmatic` backend) and an aesthetic
    stand-in (used when rewards.pickscore.model_path is unset), with the model name recorded in scores rows."""

    judges: dict[str, Callable[[JudgeRequest], str]] = field(default_factory=dict)
    aesthetic: AestheticScorer | None = None
    aesthetic_model: str = "none"

    def install(self) -> None:
        """Register the judge functions with the `programmatic` judge backend."""
        from plotline.rewards.judges.programmatic import register_programmatic_judge

        for kind, fn in self.judges.items():
            register_programmatic_judge(kind, fn)


@dataclass(frozen=True)
class RewardProvider:
    """A named programmatic reward provider: `build(*sections)` makes its rewards from the named root-config
    sections."""

    name: str
    sections: tuple[str, ...]
    """Root-config sections passed to `build`, in order (e.g. ("world",))."""
    build: Callable[..., ProgrammaticRewards]


_PROVIDERS: dict[str, RewardProvider] = {}
PROVIDED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "world": ("plotline.world.judges.backend", "world_rewards", ("world",))
}
"""Providers defined in another package: name -> (module, function, sections); imported on first use, so the
rewards package stays light."""


def register_reward_provider(
    name: str, build: Callable[..., ProgrammaticRewards], sections: tuple[str, ...]
) -> RewardProvider:
    """Make `rewards.programmatic_provider: name` build its rewards with `build(*sections of the root config)`."""
    _PROVIDERS[name] = RewardProvider(name, tuple(sections), build)
    return _PROVIDERS[name]


def programmatic_rewards(config) -> ProgrammaticRewards:
    """The rewards of the provider `config.rewards.programmatic_provider` names, built from the root-config
    sections it declares (empty when the setting is None); a KeyError names the available providers on a miss."""
    name = config.rewards.programmatic_provider
    if name is None:
        return ProgrammaticRewards()
    if name not in _PROVIDERS and name in PROVIDED:
        module, attr, sections = PROVIDED[name]
        register_reward_provider(name, getattr(importlib.import_module(module), attr), sections)
    if name not in _PROVIDERS:
        raise KeyError(
            f"programmatic reward provider {name!r} is not available; available: "
            f"{', '.join(sorted(set(_PROVIDERS) | set(PROVIDED)))}"
        )
    provider = _PROVIDERS[name]
    return provider.build(*(getattr(config, section) for section in provider.sections))


# --- frames -----------------------------------------------------------------------------------------------------
def temporal_compression(num_pixel_frames: int, num_latent_frames: int) -> int:
    """Decoded frames per latent frame, inferred from the decoded length (Wan VAE: 4; one-to-one decoders: 1)."""
    return max(1, round((num_pixel_frames - 1) / max(1, num_latent_frames - 1)))


def transition_window(row: Mapping[str, Any], window: str) -> tuple[int, int]:
    """Pixel-frame window [a, b) of a rollout row's transition: its trained chunk [transition_start,
    transition_end) (`chunk`), or the new step's whole span from the fork frame (`span`)."""
    start, end, total_latent = int(row["transition_start"]), int(row["transition_end"]), int(row["num_latent_frames"])
    if window == "span":
        later = [int(s) for s in row["span_starts"] if int(s) > start]
        end = later[0] if later else total_latent
    total = int(row["num_video_frames"])
    return latent_to_pixel_window(start, end, total, temporal_compression(total, total_latent))


def judge_frame_indices(
    num_pixel_frames: int, num_latent_frames: int, transition_start: int, transition_end: int, count: int
) -> list[int]:
    """What a rollout should store for the judges: `count` frames over the whole video (first and last
    included) plus `count` frames of the transition chunk."""
    a, b = latent_to_pixel_window(
        transition_start, transition_end, num_pixel_frames, temporal_compression(num_pixel_frames, num_latent_frames)
    )
    return sorted(set(whole_video_indices(num_pixel_frames, count)) | set(window_indices(a, b, count)))


@dataclass
class RolloutFrames:
    """The decoded frames of one continuation available to the judges: the stored frames [n, H, W, 3] at
    `indices`, and a loader of the whole video (None without an mp4)."""

    indices: list[int]
    frames: np.ndarray
    load_video: Callable[[], np.ndarray] | None = None
    _video: np.ndarray | None = None

    def pick(self, wanted: Sequence[int]) -> tuple[list[np.ndarray], str]:
        """(frames at `wanted`, source): `stored` when all are stored, else `video` (mp4 decoded once), else
        `nearest` (the nearest stored frame for each, duplicates dropped, order kept)."""
        pos = {i: k for k, i in enumerate(self.indices)}
        if all(i in pos for i in wanted):
            return [self.frames[pos[i]] for i in wanted], "stored"
        if self.load_video is not None:
            if self._video is None:
                self._video = self.load_video()
            return [self._video[min(i, len(self._video) - 1)] for i in wanted], "video"
        nearest = list(
            dict.fromkeys(min(range(len(self.indices)), key=lambda k: (abs(self.indices[k] - i), k)) for i in wanted)
        )
        return [self.frames[k] for k in nearest], "nearest"


# --- requests ---------------------------------------------------------------------------------------------------
def judge_model_name(config: RewardsConfig, kind: str) -> str:
    """The model a judge request names (and its scores rows record): the configured text/vision model, or
    `programmatic:<provider>/<kind>` when the programmatic backend answers (no VLM is asked then)."""
    if config.judge_backend == "programmatic":
        return f"programmatic:{config.programmatic_provider or 'none'}/{kind}"
    return config.models.text if kind == "plan" else config.models.vision


def plan_request(plan: Mapping[str, Any], config: RewardsConfig, gt_steps: Sequence[str] | None = None) -> JudgeRequest:
    """The plan judge's request for one plan row: the instruction vs the UNSMOOTHED `steps` (DESIGN §10);
    programmatic judges also get the instruction's ground-truth steps (meta)."""
    system, user = plan_judge_prompt(plan["prompt"], list(plan["steps"]))
    meta = {
        "plan_id": plan["plan_id"],
        "instruction": plan["prompt"],
        "gt_steps": list(gt_steps or []) or None,
        "plan_steps": list(plan["steps"]),
    }
    return JudgeRequest("plan", judge_model_name(config, "plan"), system, user, meta=meta)


def frame_pixels(frames: Sequence[np.ndarray], max_side: int | None) -> tuple[np.ndarray, ...] | None:
    """A request's `pixels`: the frames themselves when each is what its PNG stores (png_pixels), else None."""
    found = tuple(png_pixels(f, max_side) for f in frames)
    return None if any(p is None for p in found) else found  # type: ignore[return-value]


def video_requests(
    instruction: str,
    step: str,
    previous_step: str | None,
    whole: Sequence[np.ndarray],
    window: Sequence[np.ndarray],
    config: RewardsConfig,
    png: PngCache | None = None,
) -> tuple[JudgeRequest, JudgeRequest]:
    """(temporal request on `whole` — frames over the whole video, in order, last included — against the
    instruction; step request on the transition `window` against the new step prompt, with the previous step).
    Neither carries ground truth: like a VLM, the judges read the instruction and the step prompts. Frames are
    encoded through `png` when given (each distinct frame once; the same bytes)."""
    fc = config.frames
    encode = png.encode if png is not None else encode_png
    system, user = temporal_judge_prompt(instruction, len(whole))
    temporal = JudgeRequest(
        "temporal",
        judge_model_name(config, "temporal"),
        system,
        user,
        images=tuple(encode(f, fc.image_size) for f in whole),
        n_frames=len(whole),
        pixels=frame_pixels(whole, fc.image_size),
        meta={"instruction": instruction, "steps": None},
    )
    system, user = step_judge_prompt(step, previous_step, len(window))
    step_req = JudgeRequest(
        "step",
        judge_model_name(config, "step"),
        system,
        user,
        images=tuple(encode(f, fc.image_size) for f in window),
        n_frames=len(window),
        pixels=frame_pixels(window, fc.image_size),
        meta={"step": step, "previous_step": previous_step},
    )
    return temporal, step_req


def rollout_judge_frames(
    row: Mapping[str, Any], frames: RolloutFrames, config: RewardsConfig
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, str]]:
    """(whole-video frames for the temporal judge, transition-window frames for the step judge and PickScore,
    where each came from) for one rollout row."""
    fc = config.frames
    whole, whole_src = frames.pick(whole_video_indices(int(row["num_video_frames"]), fc.temporal_num_frames))
    a, b = transition_window(row, fc.step_window)
    window, window_src = frames.pick(window_indices(a, b, fc.step_num_frames))
    return whole, window, {"temporal": whole_src, "step": window_src}


def outcome_row(
    score_id: str, judge: str, instruction_id: str, plan_id: str, rollout_id: str | None, outcome: JudgeOutcome
) -> dict[str, Any]:
    """One `scores` row of a judge outcome (raw reply, latency, attempts and cache hit kept)."""
    req, resp, res = outcome.request, outcome.response, outcome.result
    return {
        "score_id": score_id,
        "judge": judge,
        "instruction_id": instruction_id,
        "plan_id": plan_id,
        "rollout_id": rollout_id,
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


def pickscore_outcome(value: float | None, reason: str | None, model: str) -> JudgeOutcome:
    """A PickScore result wrapped as an outcome (unscored with `reason` when no value)."""
    if value is None or not np.isfinite(value):
        result = ParseResult(status="unscored", reason=reason or "PickScore produced no value")
    else:
        result = ParseResult(status="ok", score=float(value), fields={"pickscore": float(value)})
    req = JudgeRequest("pickscore", model, "", "")
    return JudgeOutcome(req, JudgeResponse(None, 0.0, error=None if value is not None else reason), result)
