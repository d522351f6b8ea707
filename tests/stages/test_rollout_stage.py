"""rollout stage end to end on a local store (tiny backbone, CPU): rows, tensors, videos, bad plans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plotline.config import load_config
from plotline.executor.prompts import PlanTooShort
from plotline.store import StorageConfig
from stages.base import StageSpec, register, run_stage

torch.set_num_threads(1)
FAKE: dict = {"steps": ["a dark square", "the square brightens", "it stays bright"]}


def _fake_plans(ctx):
    rows = []
    for i in range(2):
        steps = FAKE["steps"]
        rows.append(
            {
                "plan_id": f"i0/p{i}",
                "instruction_id": "i0",
                "plan_index": i,
                "split": "train",
                "prompt": "a dark square brightens",
                "num_steps": len(steps),
                "steps": steps,
                "smoothed_steps": [s + " then " + t for s, t in zip(steps, steps[1:])] + steps[-1:],
                "format_reward": 1.0,
                "parse_status": "ok",
                "raw_text": "[]",
                "prompt_token_ids": [1],
                "completion_token_ids": [2],
                "completion_mask": [1],
                "old_logprobs": [-0.1],
                "adapter_version": "planner-v0",
                "backend": "local",
                "seed": i,
                "finish_reason": "stop",
                "error": None,
            }
        )
    ctx.output.write_table("plans.parquet", "plans", rows, params={"M": 2})


register(
    StageSpec(
        name="test_exec_plans",
        summary="fake plans for executor tests",
        inputs=(),
        outputs=("plans",),
        config_sections=("seed",),
        run=_fake_plans,
    )
)


def tiny_config(tmp_path, *extra):
    cfg = load_config(
        overrides=[
            "video.target_latent_frames=6",
            "video.latent_frames_per_step=3",
            "video.switch_frames=[3]",
            "executor.num_continuations=4",
            "executor.latent_height=4",
            "executor.latent_width=4",
            "executor.sampled_frames=4",
            "rewards.frames.temporal_num_frames=6",  # at most the 6 frames a video has
            "executor.fps=4",
            *extra,
        ]
    )
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    return cfg


def make_plans(cfg, run, step=0, force=False):
    return run_stage("test_exec_plans", cfg, run, step, show_progress=False, force=force)


def test_rollout_stage_writes_contracted_rows(tmp_path):
    cfg = tiny_config(tmp_path)
    run = str(tmp_path / "runs" / "r1")
    plans = make_plans(cfg, run)
    out = run_stage("rollout", cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
    art = out.artifact
    table = art.read_table("rollouts.parquet").to_pylist()
    assert len(table) == 8 and {r["executor_adapter_version"] for r in table} == {"base"}
    r0 = table[0]
    assert r0["fork_frame"] == 3 and r0["switch_step"] == 1 and r0["step_prompt"] == "the square brightens"
    assert r0["span_prompts"][0] == "a dark square then the square brightens"
    assert r0["sampled_frame_indices"][-1] == r0["num_video_frames"] - 1  # judges see the last frame
    g = art.read_tensors(r0["group_path"])
    assert g["states"].shape == (4, 4, 4, 3, 4, 4) and g["prefix"].shape == (1, 4, 3, 4, 4)
    assert g["frames"].dtype == torch.uint8 and g["frames"].shape[:2] == (4, 4)
    np.testing.assert_allclose(g["logprobs"][0].numpy(), r0["logprobs_old"], rtol=1e-6)
    assert art.read_bytes(r0["video_path"])[4:8] == b"ftyp"
    assert out.manifest.summary["rollouts"] == 8


def test_rollout_stage_refuses_short_plans(tmp_path):
    cfg = tiny_config(tmp_path)
    run = str(tmp_path / "runs" / "r2")
    FAKE["steps"] = ["only one step"]
    try:
        plans = make_plans(cfg, run)
    finally:
        FAKE["steps"] = ["a dark square", "the square brightens", "it stays bright"]
    with pytest.raises(PlanTooShort, match="plan i0/p0 has 1 step prompts"):
        run_stage("rollout", cfg, run, 0, show_progress=False, pinned_inputs={"plans": plans.artifact.uri})
