"""Planner fixtures: a tiny SFT'd Qwen3 planner base and a cold-start adapter, built once per process."""

import pytest


@pytest.fixture(scope="session")
def tiny_planner_paths():
    """(base dir, cold-start adapter dir) of the tiny planner (built in-process; nothing downloaded)."""
    from plotline.tiny.planner import cached_tiny_planner

    return cached_tiny_planner()


@pytest.fixture(autouse=True)
def _single_torch_thread():
    """Tiny models run far faster on one intra-op thread on a shared CPU; restored after each test."""
    from plotline.tiny.planner import torch_threads

    with torch_threads(1):
        yield
