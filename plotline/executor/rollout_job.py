"""What the rollout stage does per plan, without any store code: pick the fork frame, condition spans, roll out
N continuations from a shared prefix, decode, and produce rows + tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from plotline.executor.executor import Executor
from plotline.executor.prompts import PlanTooShort, check_plan_steps, frame_prompt_index, span_starts
from plotline.executor.rollout import Rollout, fork_rollout
from plotline.executor.vae import decode_rollout
from plotline.executor.video_io import EncoderPool, encode_mp4, sample_indices, to_uint8


class NonFiniteRollout(FloatingPointError):
    """A rollout produced NaN/inf latents or log-probs; names the sample."""


@dataclass
class PlanRollout:
    """A plan's rollout with everything the stage writes."""

    rollout: Rollout
    span_prompts: list[str]
    starts: list[int]
    switch_step: int
    frames: torch.Tensor
    sampled: list[int]


def conditioning_prompts(plan: dict, ex: Executor) -> list[str]:
    """The J span prompts: the plan's first J `smoothed_steps`. Plans are conditioned before the rollout
    (`plotline.policy.spans.condition_plans` fills missing smoothed steps with the one joiner); a plan still
    short of J span prompts is refused, naming it."""
    v = ex.video
    steps = list(plan.get("steps") or [])
    check_plan_steps(plan["plan_id"], steps, v.target_latent_frames, v.latent_frames_per_step)
    need = v.num_steps
    smoothed = list(plan.get("smoothed_steps") or [])
    if len(smoothed) < need:
        raise PlanTooShort(
            f"plan {plan['plan_id']} carries {len(smoothed)} smoothed span prompts; J={need} are "
            "needed (condition the plans with plotline.policy.spans.condition_plans first)"
        )
    return smoothed[:need]


def check_finite(r: Rollout, ids: list[str]) -> None:
    """Raise NonFiniteRollout naming the first continuation with non-finite latents or log-probs."""
    vids = r.videos()
    for n, rid in enumerate(ids):
        for name, t in (
            ("latents", vids[n]),
            ("states", r.trajectory.states[n]),
            ("log-probs", r.trajectory.logprobs[n]),
        ):
            if not torch.isfinite(t).all():
                raise NonFiniteRollout(f"rollout {rid}: non-finite {name}")


def roll_plan(ex: Executor, plan: dict, fork_frame: int, seed: int, ids: list[str]) -> PlanRollout:
    """Generate the plan's N continuations as one batch and decode them."""
    v = ex.video
    prompts = conditioning_prompts(plan, ex)
    starts = span_starts(v.target_latent_frames, v.latent_frames_per_step, fork_frame)
    contexts = ex.encode(prompts)
    r = fork_rollout(
        ex.generator,
        contexts,
        starts,
        v.target_latent_frames,
        fork_frame,
        ex.noise(seed),
        plan["plan_id"],
        list(range(len(ids))),
    )
    check_finite(r, ids)
    frames = decode_rollout(ex.decoder, r.prefix, r.continuations)  # [N, T, H, W, 3], the prefix decoded once
    return PlanRollout(
        r,
        prompts,
        starts,
        frame_prompt_index(starts, fork_frame),
        frames,
        sample_indices(frames.shape[1], ex.config.sampled_frames),
    )


def group_tensors(pr: PlanRollout) -> dict[str, torch.Tensor]:
    """Tensors of the plan's group file (prefix, transition trajectory, sampled frames)."""
    t = pr.rollout.trajectory
    return {
        "prefix": pr.rollout.prefix.float().contiguous(),
        "states": t.states.float().contiguous(),
        "velocities": t.velocities.float().contiguous(),
        "logprobs": t.logprobs.float().contiguous(),
        "sigmas": t.sigmas.double().contiguous(),
        "frames": torch.from_numpy(to_uint8(pr.frames[:, pr.sampled])).contiguous(),
    }


def mp4s(pr: PlanRollout, fps: int, pool: EncoderPool | None = None) -> list[bytes]:
    """One mp4 per continuation (encoded concurrently in `pool` when given; the same bytes)."""
    if pool is not None:
        return [f.result() for f in submit_mp4s(pr, fps, pool)]
    return [encode_mp4(to_uint8(pr.frames[n]), fps) for n in range(pr.frames.shape[0])]


def submit_mp4s(pr: PlanRollout, fps: int, pool: EncoderPool) -> list:
    """Start encoding one mp4 per continuation in `pool`; Futures of their bytes, in continuation order (use with
    video_io.overlapped to encode plan i while plan i+1 rolls out)."""
    return [pool.submit(to_uint8(pr.frames[n]), fps) for n in range(pr.frames.shape[0])]
