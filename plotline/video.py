"""Video geometry shared by planner and executor: K latent frames, L per step, J = ceil(K/L) steps."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from plotline._base import Section


class VideoConfig(Section):
    """Shape of the generated videos in latent frames."""

    target_latent_frames: int = Field(21, ge=1)
    """K: latent frames per video."""
    latent_frames_per_step: int = Field(12, ge=1)
    """L: latent frames covered by one step prompt (one span)."""
    frames_per_chunk: int = Field(3, ge=1)
    """Latent frames generated together in one AR chunk (Self-Forcing/LongLive: 3)."""
    switch_frames: list[int] = Field(default_factory=lambda: [6, 12])
    """Candidate switch points k (latent frame index where a new step prompt starts) drawn per rollout."""

    @property
    def num_steps(self) -> int:
        """J = ceil(K / L): number of step prompts a plan must provide."""
        return math.ceil(self.target_latent_frames / self.latent_frames_per_step)

    @model_validator(mode="after")
    def _check_geometry(self) -> VideoConfig:
        if self.latent_frames_per_step % self.frames_per_chunk:
            raise ValueError(
                f"latent_frames_per_step={self.latent_frames_per_step} must be a multiple of "
                f"frames_per_chunk={self.frames_per_chunk}"
            )
        for k in self.switch_frames:
            if k <= 0 or k >= self.target_latent_frames:
                raise ValueError(
                    f"switch_frames entry {k} is outside the video (0 < k < K={self.target_latent_frames})"
                )
            if k % self.frames_per_chunk:
                raise ValueError(
                    f"switch_frames entry {k} is not on a chunk boundary (frames_per_chunk={self.frames_per_chunk})"
                )
        return self
