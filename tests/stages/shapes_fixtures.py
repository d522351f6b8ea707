"""A tiny shapes-world run shared by the stage tests that need a bootstrap checkpoint: the shapes preset with a
short warm start and a handful of instructions (bootstrap in seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from plotline.config import load_config
from plotline.store import StorageConfig
from stages.base import run_stage

TINY_SHAPES = [
    "world.num_train_instructions=3",
    "world.bootstrap.planner.steps=30",
    "world.bootstrap.planner.sft_instructions=40",
    "world.bootstrap.executor.steps=30",
    "planner.batch_size=8",
]
"""Overrides of configs/shapes.yaml for a tiny warm start (add `world.num_eval_instructions=N` as needed)."""


def bootstrap_tiny_run(root: Path, overrides: Sequence[str] = TINY_SHAPES):
    """(config, run URI, bootstrap outcome) of a tiny shapes run (configs/shapes.yaml + `overrides`) under `root`
    with its instructions and bootstrap committed."""
    cfg = load_config(["configs/shapes.yaml"], list(overrides))
    cfg.storage = StorageConfig(root=str(root / "runs"))
    run = str(root / "runs" / "tiny")
    run_stage("instructions", cfg, run, 0, show_progress=False)
    return cfg, run, run_stage("bootstrap", cfg, run, 0, show_progress=False)
