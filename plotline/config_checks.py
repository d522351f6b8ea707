"""Cross-section checks of the root configuration: settings that are valid alone but silently useless together.

Each check returns readable problems naming the keys and values; `PlotlineConfig` refuses a config with any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plotline.config import PlotlineConfig

DECODED_FRAMES: dict[str, Callable[[int], int]] = {
    "identity": lambda k: k,
    "wan": lambda k: 1 + 4 * (k - 1),
    "tiny_wan": lambda k: 1 + 4 * (k - 1),
    "world_state": lambda k: k,
}
"""Decoded video frames for K latent frames, by decoder name (`Backbone.vae`): Wan's VAE is 4x causal in time;
the identity and shapes-world decoders give one frame per latent frame."""


def decoded_frames(config: PlotlineConfig) -> int | None:
    """Frames of a decoded video under this config (None when the backbone or its decoder is unknown here)."""
    from plotline.executor.backbones import get_backbone

    try:
        backbone = get_backbone(config.executor.backbone)  # cheap: no model is built
    except KeyError:
        return None
    if backbone.vae not in DECODED_FRAMES:
        return None
    return DECODED_FRAMES[backbone.vae](config.video.target_latent_frames)


def check_groups(config: PlotlineConfig) -> list[str]:
    """Group-relative RL needs at least two members per group for a trained role (else every advantage is 0).

    A role is not trained when its update stage is absent from `orchestration.step_stages`."""
    out = []
    stages = config.orchestration.step_stages
    if "update_planner" in stages and config.planner.num_plans < 2:
        out.append(
            f"planner.num_plans={config.planner.num_plans}: GSPO normalises advantages over the M plans of an "
            f"instruction, so M must be >= 2 while update_planner is in orchestration.step_stages (remove it "
            f"there to state that the planner is not trained)"
        )
    if "update_executor" in stages and config.executor.num_continuations < 2:
        out.append(
            f"executor.num_continuations={config.executor.num_continuations}: Flow-GRPO normalises advantages "
            f"over the N continuations of a plan, so N must be >= 2 while update_executor is in "
            f"orchestration.step_stages (remove it there to state that the executor is not trained)"
        )
    return out


def check_frames(config: PlotlineConfig) -> list[str]:
    """Frame counts must fit the decoded video; trained transitions must fit the denoising schedule."""
    out = []
    total = decoded_frames(config)
    if total is not None:
        where = (
            f"a video of video.target_latent_frames={config.video.target_latent_frames} latent frames decodes to "
            f"{total} frames with backbone {config.executor.backbone!r}"
        )
        for key, value in (
            ("rewards.frames.temporal_num_frames", config.rewards.frames.temporal_num_frames),
            ("executor.sampled_frames", config.executor.sampled_frames),
        ):
            if value > total:
                out.append(f"{key}={value} is more than the video has ({where})")
    steps = len(config.executor.denoising_steps)
    if config.rl.executor.train_transitions > steps:
        out.append(
            f"rl.executor.train_transitions={config.rl.executor.train_transitions} is more than the "
            f"{steps} denoising transitions of executor.denoising_steps={config.executor.denoising_steps}"
        )
    return out


CHECKS: list[Callable[[PlotlineConfig], list[str]]] = [check_groups, check_frames]
"""Every cross-check, run in order by `cross_check`."""


def cross_check(config: PlotlineConfig) -> list[str]:
    """All problems every registered cross-check finds (empty when the config is consistent)."""
    return [p for check in CHECKS for p in check(config)]
