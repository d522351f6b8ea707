"""The shapes world learns, and the evaluation report shows it: the embedded default (configs/shapes.yaml,
fixed seeds) is warm-started by the bootstrap stage and trained for a short RL run by the real stages (plan →
rollout → score → advantage → update_planner → update_executor); then `plotline eval run` benchmarks the bootstrap
policy against the trained one on the world's held-out eval instructions (prompts neither the planner's SFT nor
RL ever saw), one video per prompt from the same noise, scored by the run's temporal-following judge. The mean
temporal-following score must rise by a clear margin, and the committed report must show it.

The gain is recomputed here from results.parquet (per-prompt pairs), independently of the report's own tables.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.shapes_learning import (
    KERNEL_PINS,
    PRESET,
    VARIANTS,
    copy_setup,
    paired_gain,
    train_and_evaluate,
    variant_stages,
)
from plotline.store import RunStore

SEED = 0
STEPS = 8
MARGIN = 0.039
"""Required rise of the mean temporal-following score (R_video in [0, 1]) over the 96 held-out eval prompts; the
report's 95 % bootstrap interval of the paired difference must also lie above 0.

How the test tolerates other platforms' numerics: a run is deterministic at a fixed seed on one platform
(single-threaded torch, seeded warm start and sampling), but an RL trajectory amplifies kernel-level rounding
differences, so on another CPU's kernels it becomes a different trajectory, in effect another seed. The suite
therefore pins the CPU kernels (KERNEL_PINS, set by tests/conftest.py before torch loads: ATen, MKL and oneDNN on
their AVX2 paths), which makes the run one computation on any x86-64 CPU with AVX2, and the test fails loudly if
the pins are not in force. The margin leaves room for what the pins cannot cover.

The seed is the main job's own (`seed: 0` in configs/shapes.yaml), so the test trains exactly what `make train`
trains. With N = 8 continuations and Flow-GRPO on all three stochastic transitions of the switch chunk (lr 1e-3,
clip 0.003), the protocol (train_and_evaluate under the pins; the ablation's seed 0 is the same computation)
measured at seed 0: bootstrap 0.786; joint +0.078 [+0.045, +0.110] (trained 0.864); executor-only +0.038
[+0.013, +0.063]. The margin is half the measured joint gain, and the interval's lower end (+0.045) leaves
headroom above 0. How much the gain varies by seed is the ablation's business (README), not CI's."""
EXECUTOR_MARGIN = 0.019
"""Required rise of the held-out temporal-following score from executor-only RL (no update_planner), measured
+0.038 [+0.013, +0.063] at seed 0 (half of it; see MARGIN)."""


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory):
    """Seed 0's joint RL run (setup stages, STEPS steps of every step stage, eval bootstrap vs trained)."""
    import os

    import torch

    assert all(os.environ.get(k) == v for k, v in KERNEL_PINS.items()), "CPU kernels are not pinned (conftest)"
    assert torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT")
    return train_and_evaluate(SEED, STEPS, tmp_path_factory.mktemp("learn"))


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~6 min alone on 2 cores; generous for a loaded machine (CI allows 90 min)
@pytest.mark.skipif(not PRESET.is_file(), reason="configs/shapes.yaml is not in this checkout")
def test_rl_raises_temporal_following_on_heldout_instructions(joint_run):
    result = joint_run
    assert result.cli_exit_code == 0, result.cli_output
    cfg, run, art = result.config, result.run, result.eval_artifact

    results = art.read_table("results.parquet").to_pandas()
    tf = results[(results.judge == "programmatic") & (results.metric == "score")]
    assert (tf.status == "ok").all(), tf[tf.status != "ok"][["sample_id", "reason"]]
    gain, paired = paired_gain(art)
    assert sorted(paired.columns) == ["bootstrap", "trained"] and len(paired) == cfg.world.num_eval_instructions
    videos = art.read_table("videos.parquet").to_pandas()
    assert set(videos["prompt"]).isdisjoint(_training_prompts(run, cfg))
    print(
        f"\ntraining temporal score per RL step: {[round(r, 3) for r in result.training_temporal]}"
        f"\ntraining step-following score per RL step: {[round(r, 3) for r in result.training_step]}"
        f"\nheld-out eval ({len(paired)} prompts): bootstrap {paired['bootstrap'].mean():.4f}, "
        f"trained {paired['trained'].mean():.4f}, gain {gain:+.4f} (margin {MARGIN})"
    )
    assert gain >= MARGIN, f"temporal-following score rose by {gain:+.4f} < {MARGIN}"

    # the committed report states the same comparison
    report = art.read_bytes("report.md").decode()
    row = re.search(r"\| trained \| eval \| programmatic \| (\d+) \| ([+-]\d\.\d{3}) \|", report)
    assert row is not None, report
    assert int(row.group(1)) == len(paired) and abs(float(row.group(2)) - gain) < 1e-3
    ci_low = float(re.search(r"\| \[([+-]\d\.\d{3}), ", report[row.end() - 1 :]).group(1))
    assert ci_low > 0, f"the 95 % interval of the gain reaches {ci_low:+.3f}"
    headline = art.manifest.summary["headline"]
    assert headline["trained/eval/programmatic"] - headline["bootstrap/eval/programmatic"] == pytest.approx(gain)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~4 min more on 2 cores (the joint run's bootstrap is copied, not retrained)
@pytest.mark.skipif(not PRESET.is_file(), reason="configs/shapes.yaml is not in this checkout")
def test_executor_rl_alone_raises_temporal_following(joint_run, tmp_path):
    """Executor-only RL (no update_planner: every step plans with the bootstrap planner) from the joint run's
    committed bootstrap: Flow-GRPO on the switch chunk removes the bootstrap executor's planted switch failures."""
    assert joint_run.cli_exit_code == 0, joint_run.cli_output
    result = train_and_evaluate(SEED, STEPS, tmp_path, variant="executor_only", setup_from=joint_run.run)
    assert result.cli_exit_code == 0, result.cli_output
    store = RunStore(result.run, result.config.storage)
    assert all(store.latest("update_planner", s) is None for s in range(STEPS))
    assert all(store.latest("update_executor", s) is not None for s in range(STEPS))
    gain, paired = paired_gain(result.eval_artifact)
    _, joint_paired = paired_gain(joint_run.eval_artifact)
    # the same bootstrap policy on the same prompts and noise: the same computation in both runs
    assert paired["bootstrap"].to_dict() == pytest.approx(joint_paired["bootstrap"].to_dict(), abs=1e-9)
    print(
        f"\nexecutor-only training step-following score per RL step: {[round(r, 3) for r in result.training_step]}"
        f"\nheld-out eval ({len(paired)} prompts): bootstrap {paired['bootstrap'].mean():.4f}, "
        f"executor-only trained {paired['trained'].mean():.4f}, gain {gain:+.4f} (margin {EXECUTOR_MARGIN})"
    )
    assert gain >= EXECUTOR_MARGIN, f"executor-only RL raised the score by {gain:+.4f} < {EXECUTOR_MARGIN}"


def _training_prompts(run: str, cfg) -> set[str]:
    """Prompts of the instructions any RL step planned for (must not overlap the eval prompts)."""
    store = RunStore(run, cfg.storage)
    prompts = set()
    for step in range(STEPS):
        prompts.update(store.latest("plan", step).read_table("plans.parquet").column("prompt").to_pylist())
    return prompts


def test_variants_leave_out_one_update_stage_each():
    stages = ["plan", "rollout", "score", "advantage", "update_planner", "update_executor"]
    assert variant_stages(stages, "joint") == stages
    assert variant_stages(stages, "executor_only") == [s for s in stages if s != "update_planner"]
    assert variant_stages(stages, "planner_only") == [s for s in stages if s != "update_executor"]
    assert set(VARIANTS) == {"joint", "executor_only", "planner_only"}
    with pytest.raises(KeyError, match="unknown RL variant 'both'"):
        variant_stages(stages, "both")


def test_copy_setup_copies_committed_setup_outputs_only(tmp_path):
    src = tmp_path / "a"
    (src / "step=000000" / "instructions" / "v000000").mkdir(parents=True)
    (src / "step=000000" / "instructions" / "v000000" / "_manifest.json").write_text("{}")
    (src / "checkpoints" / "step=000000" / "bootstrap" / "v000000").mkdir(parents=True)
    (src / "checkpoints" / "step=000000" / "bootstrap" / "v000000" / "_manifest.json").write_text("{}")
    (src / "step=000000" / "plan" / "v000000").mkdir(parents=True)
    copy_setup(src, tmp_path / "b", ["instructions", "bootstrap"])
    assert (tmp_path / "b" / "step=000000" / "instructions" / "v000000" / "_manifest.json").is_file()
    assert (tmp_path / "b" / "checkpoints" / "step=000000" / "bootstrap" / "v000000" / "_manifest.json").is_file()
    assert not (tmp_path / "b" / "step=000000" / "plan").exists()
    with pytest.raises(FileNotFoundError, match="no committed output of setup stage 'plan'"):
        copy_setup(src, tmp_path / "c", ["plan"])
