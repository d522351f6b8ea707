"""Fixtures of the shapes-world tests: a small world config and a set of generated instructions."""

from __future__ import annotations

import pytest

from plotline.world.config import WorldConfig
from plotline.world.instructions import generate_instructions


@pytest.fixture(scope="session")
def world_config() -> WorldConfig:
    """Default geometry, enough instructions to cover every phrasing and event kind."""
    return WorldConfig(seed=7, num_train_instructions=48, num_eval_instructions=16)


@pytest.fixture(scope="session")
def instructions(world_config):
    """Generated train + eval instructions of `world_config`."""
    return generate_instructions(world_config)
