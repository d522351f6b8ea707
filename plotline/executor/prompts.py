"""Step prompts over spans of L latent frames: smoothing, span boundaries with a switch point, frame→prompt map."""

from __future__ import annotations

import math


class PlanTooShort(ValueError):
    """A plan provides fewer step prompts than the video geometry needs."""


def smooth_steps(steps: list[str], joiner: str = " ") -> list[str]:
    """Smooth(s_j, s_{j+1}) = s_j + joiner + s_{j+1} for every span but the last, which keeps s_J alone (DESIGN §3).

    The one smoother: plan parsing, executor training, rollouts, evaluation and generation all call it, with
    the one joiner `planner.smooth_joiner` (see plotline.policy.spans)."""
    return [steps[j] + joiner + steps[j + 1] for j in range(len(steps) - 1)] + list(steps[-1:])


def required_steps(num_frames: int, frames_per_step: int) -> int:
    """J = ceil(K / L)."""
    return math.ceil(num_frames / frames_per_step)


def span_starts(num_frames: int, frames_per_step: int, switch_frame: int | None = None) -> list[int]:
    """First frame of each span: j·L, except that the boundary nearest switch_frame is moved onto it.

    With K=21, L=12 the starts are [0, 12]; a switch at k=6 gives [0, 6]. Raises when k is outside (0, K) or
    would reorder the spans.
    """
    starts = [j * frames_per_step for j in range(required_steps(num_frames, frames_per_step))]
    if switch_frame is None:
        return starts
    if not 0 < switch_frame < num_frames:
        raise ValueError(f"fork/switch frame {switch_frame} is outside the video (0 < k < K={num_frames})")
    if len(starts) < 2:
        raise ValueError(
            f"a video of K={num_frames} frames with L={frames_per_step} has a single span; "
            "there is no prompt switch to fork at"
        )
    j = min(range(1, len(starts)), key=lambda i: (abs(starts[i] - switch_frame), i))
    starts[j] = switch_frame
    if starts != sorted(set(starts)):
        raise ValueError(f"switch frame {switch_frame} would reorder the spans {starts}")
    return starts


def frame_prompt_index(starts: list[int], frame: int) -> int:
    """Index of the span (step prompt) that conditions latent frame `frame`."""
    return max(i for i, s in enumerate(starts) if s <= frame)


def check_plan_steps(plan_id: str, steps: list[str], num_frames: int, frames_per_step: int) -> None:
    """Raise PlanTooShort naming the plan when it has fewer than J = ceil(K/L) step prompts."""
    need = required_steps(num_frames, frames_per_step)
    if len(steps) < need:
        raise PlanTooShort(
            f"plan {plan_id} has {len(steps)} step prompts; K={num_frames}, L={frames_per_step} needs J={need}"
        )
