"""End to end on the shapes world (configs/shapes.yaml, sized down for a test): the real stages warm-start the
policies (bootstrap) and train them for a step (plan → rollout → score → advantage → update_planner →
update_executor), then `plotline eval run` benchmarks the bootstrap policy against the trained checkpoint on the
world's eval split, and the committed report shows the change, computed here independently from the results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from data_contracts import validate
from plotline.cli.eval import app as eval_app
from plotline.config import load_config
from plotline.store import RunStore
from stages.base import run_stage

PRESET = Path(__file__).resolve().parents[2] / "configs" / "shapes.yaml"
SMALL = [
    "world.num_train_instructions=6",
    "world.num_eval_instructions=8",
    "world.bootstrap.planner.steps=200",
    "world.bootstrap.planner.sft_instructions=300",
    "world.bootstrap.executor.steps=300",
    "world.bootstrap.executor.batch_size=16",
]
"""The shapes preset with a shorter warm start and fewer instructions (the test must stay near a minute)."""
RL_STEPS = 1


@pytest.mark.slow
@pytest.mark.skipif(not PRESET.is_file(), reason="configs/shapes.yaml is not in this checkout")
def test_shapes_benchmark_bootstrap_vs_trained(tmp_path):
    torch.set_num_threads(1)
    overrides = [*SMALL, f"storage.root={tmp_path / 'runs'}"]
    cfg = load_config([PRESET], overrides)
    run = str(tmp_path / "runs" / "shapes-e2e")
    for stage in cfg.orchestration.setup_stages:
        run_stage(stage, cfg, run, 0, show_progress=False)
    for step in range(RL_STEPS):
        for stage in cfg.orchestration.step_stages:
            run_stage(stage, cfg, run, step, show_progress=False)
    store = RunStore(run)
    trained_planner = store.latest("update_planner", RL_STEPS - 1)
    trained_executor = store.latest("update_executor", RL_STEPS - 1)

    root = typer.Typer()
    root.add_typer(eval_app, name="eval")
    args = [
        "eval",
        "run",
        "--run",
        run,
        "--config",
        str(PRESET),
        "--condition",
        "bootstrap=planner_smooth@base",
        "--condition",
        "trained=planner_smooth@latest",
        "--condition",
        "oracle=steps_smooth@base",
        "--condition",
        "global=global@base",
        "--set",
        "eval.planner_top_p=0.1",
    ]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(root, args)
    assert result.exit_code == 0, result.output
    art = store.latest("evaluate", RL_STEPS - 1)
    assert art is not None and "Temporal Order benchmark (committed)" in result.output

    summary = art.manifest.summary
    bootstrap = store.latest("bootstrap", 0, "checkpoints").manifest.manifest_id
    assert summary["planner_base"] == summary["executor_base"] == f"bootstrap:{bootstrap}"
    assert summary["checkpoints"]["trained"]["planner"] == trained_planner.uri
    assert summary["checkpoints"]["trained"]["executor"] == trained_executor.uri
    assert summary["checkpoints"]["bootstrap"]["executor"] == "none"

    results = art.read_table("results.parquet")
    assert validate("eval_results", results).success
    df = results.to_pandas()
    videos = art.read_table("videos.parquet").to_pandas()
    assert len(videos) == 4 * 8 and set(videos["subset"]) == {"eval"}
    assert all(pid.startswith("world-eval") for pid in videos["prompt_id"])  # the world's eval split
    tf = df[(df["judge"] == "programmatic") & (df["metric"] == "score")].groupby("condition")["value"].mean()
    assert tf.notna().all() and len(tf) == 4
    gain = (tf["trained"] - tf["bootstrap"]) / tf["bootstrap"]
    report = art.read_bytes("report.md").decode()
    row = next(line for line in report.splitlines() if line.startswith("| trained | planner_smooth | latest |"))
    assert f"{tf['trained']:.3f} ({gain * 100:+.1f}%)" in row  # the report shows the gain of the trained policy
    assert "## Paired comparison with bootstrap" in report and "| trained | eval | programmatic | 8 |" in report
    throughput = art.read_table("throughput.parquet").to_pandas()
    assert (throughput["latent_frames_per_s"] > 0).all() and set(throughput["condition"]) == set(tf.index)
    print(
        f"\nTF score (programmatic judge, shapes eval split): {tf.round(4).to_dict()}; "
        f"trained vs bootstrap {gain * 100:+.1f}%"
    )
    print(pd.DataFrame(throughput)[["condition", "videos_per_s", "latent_frames_per_s"]].to_string(index=False))
