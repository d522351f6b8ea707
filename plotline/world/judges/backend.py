"""Connects the world's judges to the `programmatic` judge backend (plotline.rewards.judges.programmatic), and
defines the `world` programmatic reward provider that plotline.rewards.scoring declares: its judges plus the
image-statistics stand-in for PickScore.

A JudgeRequest carries frames as PNG bytes (and, from the score stage, the frames themselves as `pixels`); the
temporal and step judges read them through one FrameObserver (each distinct image observed once). The ground truth
travels in `request.meta`:
- temporal: meta["instruction"] (else the request's user text), meta["steps"] (ground-truth steps, optional)
- step: meta["step"] (the new step prompt), meta["previous_step"] (optional), meta["instruction"] and
  meta["span"] (optional, together: the action must also be the instruction's event of that span)
- plan: meta["instruction"], meta["gt_steps"] (optional), meta["plan_steps"] (the UNSMOOTHED plan steps)
"""

from __future__ import annotations

from plotline.rewards.scoring import ProgrammaticRewards
from plotline.world.config import WorldConfig
from plotline.world.judges.observer import FrameObserver, decode_frames
from plotline.world.judges.plan import judge_plan
from plotline.world.judges.step import step_reply
from plotline.world.judges.temporal import temporal_reply

__all__ = ["decode_frames", "world_judges", "register_world_judges", "world_rewards", "IMAGE_STATS_MODEL"]


def _required(meta: dict, key: str):
    if key not in meta:
        raise KeyError(f"programmatic world judge needs request.meta[{key!r}]")
    return meta[key]


def world_judges(config: WorldConfig | None = None) -> dict:
    """The world's judge functions by kind (`temporal`, `step`, `plan`): JudgeRequest → reply text. The video
    judges share one FrameObserver (each distinct image decoded and observed once); their `prepare(requests)`
    observes a whole batch's frames together (the programmatic backend calls it before answering)."""
    config = config or WorldConfig()
    observer = FrameObserver(config.foreground_threshold)

    def temporal(req) -> str:
        obs, size = observer.observe(req.images, req.pixels)
        return temporal_reply(req.meta.get("instruction", req.user), obs, size, req.meta.get("steps"), config)

    def step(req) -> str:
        prompt = _required(req.meta, "step")
        obs, size = observer.observe(req.images, req.pixels)
        return step_reply(
            prompt,
            obs,
            size,
            req.meta.get("previous_step"),
            config,
            req.meta.get("instruction"),
            req.meta.get("span"),
        )

    def plan(req) -> str:
        return judge_plan(
            _required(req.meta, "instruction"),
            req.meta.get("gt_steps"),
            list(_required(req.meta, "plan_steps")),
            config,
        )

    temporal.prepare = step.prepare = observer.prepare  # type: ignore[attr-defined]
    return {"temporal": temporal, "step": step, "plan": plan}


def register_world_judges(config: WorldConfig | None = None) -> None:
    """Register the world's temporal, step and plan judges as the programmatic backend's judges."""
    from plotline.rewards.judges.programmatic import register_programmatic_judge

    for kind, fn in world_judges(config).items():
        register_programmatic_judge(kind, fn)


IMAGE_STATS_MODEL = "world-image-statistics"
"""Model name recorded in `scores` rows for the image-statistics stand-in of PickScore."""


def world_rewards(world: WorldConfig) -> ProgrammaticRewards:
    """The `world` reward provider: the world's judges (thresholds from `world`) and ImageStatsScorer."""
    from plotline.world.judges.quality import ImageStatsScorer

    return ProgrammaticRewards(
        judges=world_judges(world),
        aesthetic=ImageStatsScorer(world.foreground_threshold),
        aesthetic_model=IMAGE_STATS_MODEL,
    )
