"""Shared tiny executor for the executor tests (built once per session)."""

import pytest
import torch

from plotline.executor.config import ExecutorConfig
from plotline.executor.executor import build_executor
from plotline.video import VideoConfig

torch.set_num_threads(1)  # tiny tensors: one thread avoids oversubscription on a shared CPU


@pytest.fixture(scope="session")
def tiny_video() -> VideoConfig:
    return VideoConfig(target_latent_frames=12, latent_frames_per_step=3, frames_per_chunk=3, switch_frames=[3, 6])


@pytest.fixture(scope="session")
def tiny_executor(tiny_video):
    return build_executor(ExecutorConfig(backbone="tiny", latent_height=4, latent_width=4), tiny_video, device="cpu")


@pytest.fixture(scope="session")
def prompts():
    return ["a red square on the left", "the square moves right", "the square turns blue", "the square grows"]
