"""plan stage end to end on a local store: tiny planner (cold-start adapter) samples M plans per instruction."""

from __future__ import annotations

import json

import pytest

from plotline.config import load_config
from plotline.planner.model import adapter_version
from plotline.store import StorageConfig
from plotline.tiny.planner import cached_tiny_planner, shape_instructions, torch_threads
from stages.base import run_stage


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def planner_config(tmp_path, *extra):
    """Config with the tiny planner, M = 2, J = 2 (K 21, L 12) and instructions imported from a JSONL file."""
    base, cold = cached_tiny_planner()
    data = tmp_path / "instructions.jsonl"
    data.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in shape_instructions(2)))
    cfg = load_config(
        overrides=[
            f"planner.base_model={base}",
            f"planner.cold_start_adapter={cold}",
            "planner.num_plans=2",
            "planner.max_new_tokens=32",
            "data.source=file",
            f"data.path={data}",
            "rl.planner.mini_batch_size=4",
            "rl.planner.micro_batch_size=2",
            "rl.planner.learning_rate=1e-3",
            *extra,
        ]
    )
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    return cfg


def test_plan_stage_writes_contracted_plans(tmp_path):
    cfg = planner_config(tmp_path)
    run = str(tmp_path / "runs" / "p1")
    run_stage("instructions", cfg, run, 0, show_progress=False)
    events = []
    out = run_stage("plan", cfg, run, 0, show_progress=False, progress_hook=events.append)
    rows = out.artifact.read_table("plans.parquet").to_pylist()
    plans = [(e.done, e.total) for e in events if e.label == "plan@0 plans"]
    assert plans[0] == (0, 4) and plans[-1] == (4, 4)  # the sampling reports its plans
    assert len(rows) == 4 and sorted({r["plan_index"] for r in rows}) == [0, 1]
    version = adapter_version(cfg.planner.cold_start_adapter)
    assert {r["adapter_version"] for r in rows} == {version}
    for r in rows:
        assert len(r["steps"]) == 2 and len(r["smoothed_steps"]) == 2
        assert len(r["old_logprobs"]) == len(r["completion_token_ids"]) == len(r["completion_mask"])
    summary = out.manifest.summary
    assert summary["adapter_version"] == version and summary["plans"] == 4 and summary["backend"] == "local"
    assert run_stage("plan", cfg, run, 0, show_progress=False).status == "skipped"
