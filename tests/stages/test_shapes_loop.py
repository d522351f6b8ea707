"""The shapes world learns (issue 6, must show; issue 8's report on it): the embedded default (configs/shapes.yaml,
fixed seeds) is warm-started by the bootstrap stage and trained for a short RL run by the real stages (plan →
rollout → score → advantage → update_planner → update_executor); then `plotline eval run` benchmarks the bootstrap
policy against the trained one on the world's held-out eval instructions (prompts neither the planner's SFT nor
RL ever saw), one video per prompt from the same noise, scored by the run's temporal-following judge. The mean
temporal-following score must rise by a clear margin, and the committed report must show it.

The gain is recomputed here from results.parquet (per-prompt pairs), independently of the report's own tables.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from plotline.eval.cli import app as eval_app
from plotline.eval.sections import load_extended_config
from plotline.store import RunStore
from stages.base import run_stage

PRESET = Path(__file__).resolve().parents[2] / "configs" / "shapes.yaml"
SEED = 1
STEPS = 8
MARGIN = 0.015
"""Required rise of the mean temporal-following score (R_video in [0, 1]) over the 96 held-out eval prompts; the
report's 95 % bootstrap interval of the paired difference must also lie above 0.

A run is deterministic at a fixed seed on one platform (single-threaded torch, seeded warm start and sampling),
so repeated runs of this seed give the same gain; the margin leaves room for other platforms' numerics. Runs of
exactly this setup for other seeds (MEASURED) show how much the 8-step gain varies: seed 3 does not learn within
8 steps, so the test pins SEED (chosen before these runs) rather than claiming every seed passes."""
MEASURED = {0: (0.050, 0.022, 0.083), 1: (0.0236, 0.002, 0.051), 2: (0.0318, 0.007, 0.060), 3: (-0.0001, None, None),
            4: (0.0190, None, None)}
"""seed → (mean Δ, 95 % CI low, high) measured when the margin was chosen (None: not recorded; seed 0 is the
main job's default, measured by its final evaluate stage)."""


@pytest.mark.slow
@pytest.mark.skipif(not PRESET.is_file(), reason="configs/shapes.yaml is not in this checkout")
def test_rl_raises_temporal_following_on_heldout_instructions(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_extended_config([PRESET], [f"seed={SEED}", f"storage.root={tmp_path / 'runs'}"])
        run = str(tmp_path / "runs" / "learn")
        for name in cfg.orchestration.setup_stages:
            run_stage(name, cfg, run, 0, show_progress=False)
        training = []
        for step in range(STEPS):
            for name in cfg.orchestration.step_stages:
                out = run_stage(name, cfg, run, step, show_progress=False)
                if name == "score":
                    training.append(out.manifest.summary["score_means"]["temporal"])
        root = typer.Typer()
        root.add_typer(eval_app, name="eval")
        cli = CliRunner().invoke(root, ["eval", "run", "--run", run, "--config", str(PRESET), "--set", f"seed={SEED}",
                                        "--set", f"storage.root={tmp_path / 'runs'}",
                                        "--condition", "bootstrap=planner_smooth@base",
                                        "--condition", "trained=planner_smooth@latest"])
    finally:
        torch.set_num_threads(before)
    assert cli.exit_code == 0, cli.output

    art = RunStore(run, cfg.storage).latest("evaluate", STEPS - 1)
    results = art.read_table("results.parquet").to_pandas()
    tf = results[(results.judge == "programmatic") & (results.metric == "score")]
    assert (tf.status == "ok").all(), tf[tf.status != "ok"][["sample_id", "reason"]]
    paired = tf.pivot_table(index="prompt_id", columns="condition", values="value")
    assert sorted(paired.columns) == ["bootstrap", "trained"] and len(paired) == cfg.world.num_eval_instructions
    videos = art.read_table("videos.parquet").to_pandas()
    assert set(videos["prompt"]).isdisjoint(_training_prompts(run, cfg))
    gain = float((paired["trained"] - paired["bootstrap"]).mean())
    print(f"\ntraining temporal score per RL step: {[round(r, 3) for r in training]}"
          f"\nheld-out eval ({len(paired)} prompts): bootstrap {paired['bootstrap'].mean():.4f}, "
          f"trained {paired['trained'].mean():.4f}, gain {gain:+.4f} (margin {MARGIN})")
    assert gain >= MARGIN, f"temporal-following score rose by {gain:+.4f} < {MARGIN}"

    # the committed report states the same comparison
    report = art.read_bytes("report.md").decode()
    row = re.search(r"\| trained \| eval \| programmatic \| (\d+) \| ([+-]\d\.\d{3}) \|", report)
    assert row is not None, report
    assert int(row.group(1)) == len(paired) and abs(float(row.group(2)) - gain) < 1e-3
    ci_low = float(re.search(r"\| \[([+-]\d\.\d{3}), ", report[row.end() - 1:]).group(1))
    assert ci_low > 0, f"the 95 % interval of the gain reaches {ci_low:+.3f}"
    headline = art.manifest.summary["headline"]
    assert headline["trained/eval/programmatic"] - headline["bootstrap/eval/programmatic"] == pytest.approx(gain)


def _training_prompts(run: str, cfg) -> set[str]:
    """Prompts of the instructions any RL step planned for (must not overlap the eval prompts)."""
    store = RunStore(run, cfg.storage)
    prompts = set()
    for step in range(STEPS):
        prompts.update(store.latest("plan", step).read_table("plans.parquet").column("prompt").to_pylist())
    return prompts
