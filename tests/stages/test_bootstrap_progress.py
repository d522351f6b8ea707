"""The bootstrap stage reports its progress: a captured sink receives, per warm start, monotone iterations with
their total and, for the two SFT loops, the loss of every step (the very values the stage records); reporting
leaves the training numerics unchanged."""

from __future__ import annotations

import torch
from shapes_fixtures import TINY_SHAPES

from plotline.config import load_config
from plotline.store import StorageConfig
from stages.base import run_stage

TINY = [*TINY_SHAPES, "world.num_eval_instructions=2", "world.bootstrap.executor.pool_size=24"]


def test_bootstrap_reports_iterations_totals_and_losses_to_a_captured_sink(tmp_path):
    cfg = load_config(["configs/shapes.yaml"], TINY)
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    run = str(tmp_path / "runs" / "p")
    run_stage("instructions", cfg, run, 0, show_progress=False)
    events = []
    art = run_stage("bootstrap", cfg, run, 0, show_progress=False, progress_hook=events.append).artifact
    by_task: dict[str, list] = {}
    for e in events:
        by_task.setdefault(e.label, []).append(e)
    assert list(by_task) == [
        "bootstrap@0 planner sft",
        "bootstrap@0 executor training videos",
        "bootstrap@0 executor flow matching",
    ]
    for label, evs in by_task.items():
        dones = [e.done for e in evs]
        assert dones == list(range(1, len(dones) + 1)), label  # every iteration, in order
        assert {e.total for e in evs} == {dones[-1]}, label  # a fixed total, reached at the end
    assert by_task["bootstrap@0 executor training videos"][-1].total == 24
    assert all(e.loss is None for e in by_task["bootstrap@0 executor training videos"])

    fm = by_task["bootstrap@0 executor flow matching"]
    recorded = [
        m["value"] for m in art.read_table("metrics.parquet").to_pylist() if m["metric"] == "flow_matching_loss"
    ]
    assert len(fm) == 30 and [e.loss for e in fm] == recorded  # the losses the stage wrote, step by step
    sft = by_task["bootstrap@0 planner sft"]
    assert sft[-1].total >= 30 and all(e.loss is not None and e.loss > 0 for e in sft)
    assert sft[-1].loss == art.manifest.summary["planner_sft_loss"]  # the last step's loss is the summary's


def test_reporting_progress_does_not_change_the_warm_start():
    from plotline.world.bootstrap import bootstrap_executor

    cfg = load_config(["configs/shapes.yaml"], [*TINY, "world.bootstrap.executor.steps=6"])
    args = (cfg.world, cfg.video, cfg.executor, cfg.planner, 7)
    seen = []
    quiet_state, quiet = bootstrap_executor(*args)
    loud_state, loud = bootstrap_executor(
        *args, progress=lambda d, t, loss=None: seen.append((d, t, loss)), pool_progress=lambda d, t, loss=None: None
    )
    assert loud == quiet and [s[2] for s in seen] == quiet  # same computation: identical losses
    assert all(torch.equal(quiet_state[k], loud_state[k]) for k in quiet_state)
