"""The shapes world's learning protocol, shared by the CI learning test (tests/stages/test_shapes_loop.py, one
pinned seed) and the seed sweep (benchmarks/bench_shapes_seeds.py): the default preset warm-started by the setup
stages, `steps` RL steps through the real stages, then `plotline eval run` comparing the bootstrap policy with the
trained one on the world's held-out eval prompts (one video per prompt, same noise).

KERNEL_PINS fixes the CPU kernels both run with (set before torch is imported: tests/conftest.py does it for the
suite, the sweep for its child processes): ATen's vectorised kernels, MKL's conditional numerical reproducibility
branch and oneDNN's instruction set are pinned to AVX2, so a run is one computation on any x86-64 CPU with AVX2
(AVX-512 and AMX machines otherwise pick other kernels and the RL trajectory drifts away after a few steps).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

KERNEL_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}
"""Environment that pins torch's CPU kernels (read when torch loads)."""

PRESET = Path(__file__).resolve().parents[1] / "configs" / "shapes.yaml"

VARIANTS: dict[str, tuple[str, ...]] = {
    "joint": (),
    "executor_only": ("update_planner",),
    "planner_only": ("update_executor",),
}
"""RL variants by name → the step stages they leave out of the preset's orchestration.step_stages (joint: none;
executor-only: no planner update, so every step plans with the bootstrap planner; planner-only: no executor
update, so every step rolls out with the bootstrap executor)."""


def variant_stages(step_stages: Sequence[str], variant: str) -> list[str]:
    """The step stages a variant runs: `step_stages` without the ones VARIANTS leaves out (KeyError naming the
    variants for an unknown one)."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown RL variant {variant!r}; known: {sorted(VARIANTS)}")
    return [s for s in step_stages if s not in VARIANTS[variant]]


def copy_setup(source_run: str | Path, run: str | Path, setup_stages: Sequence[str]) -> None:
    """Copy the committed setup-stage outputs (step 0, steps and checkpoints areas) of local run folder
    `source_run` into the empty run folder `run`, so a second variant starts from the same committed bootstrap
    instead of training it again (FileNotFoundError naming the folder when one is not committed)."""
    from plotline.store.layout import step_folder

    src, dst, step0 = Path(source_run), Path(run), step_folder(0)
    for stage in setup_stages:
        found = [p for p in (src / step0 / stage, src / "checkpoints" / step0 / stage) if p.is_dir()]
        if not found or not any(found[0].glob("*/_manifest.json")):
            raise FileNotFoundError(f"{src}: no committed output of setup stage {stage!r} at step 0 to copy")
        for folder in found:
            shutil.copytree(folder, dst / folder.relative_to(src))


@dataclass
class LearningRun:
    """One seed's training and held-out evaluation."""

    seed: int
    run: str
    config: object
    training_temporal: list[float]
    """Mean temporal-following score of each RL step's rollouts."""
    eval_artifact: object
    """The committed evaluate artifact of `plotline eval run` (None when the command failed)."""
    cli_output: str
    cli_exit_code: int
    training_step: list[float] = field(default_factory=list)
    """Mean step-following score (the switch chunk) of each RL step's rollouts."""
    variant: str = "joint"
    """The RL variant (VARIANTS) that was trained."""


def train_and_evaluate(
    seed: int,
    steps: int,
    root: str | Path,
    preset: Path = PRESET,
    *,
    variant: str = "joint",
    overrides: Sequence[str] = (),
    setup_from: str | Path | None = None,
    run_name: str | None = None,
) -> LearningRun:
    """Run the setup stages, `steps` RL steps of `variant` (VARIANTS: which step stages run) and `plotline eval run`
    (bootstrap vs trained) under `root`, in run folder `run_name` (default learn-s{seed} for joint,
    learn-{variant}-s{seed} otherwise). `overrides` are extra `--set` values (dotted.key=value) for training and
    evaluation; `setup_from` is a run folder (another variant's LearningRun.run, same seed and preset) whose committed
    setup stages are copied instead of run again."""
    import torch
    import typer
    from typer.testing import CliRunner

    from plotline.cli.eval import app as eval_app
    from plotline.config import load_config
    from plotline.store import RunStore
    from stages.base import run_stage

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        storage = f"storage.root={Path(root) / 'runs'}"
        sets = [f"seed={seed}", storage, *overrides]
        cfg = load_config([preset], sets)
        step_stages = variant_stages(cfg.orchestration.step_stages, variant)
        name = run_name or (f"learn-s{seed}" if variant == "joint" else f"learn-{variant}-s{seed}")
        run = str(Path(root) / "runs" / name)
        if setup_from is not None:
            copy_setup(setup_from, run, cfg.orchestration.setup_stages)
        else:
            for stage in cfg.orchestration.setup_stages:
                run_stage(stage, cfg, run, 0, show_progress=False)
        training, training_step = [], []
        for step in range(steps):
            for name in step_stages:
                out = run_stage(name, cfg, run, step, show_progress=False)
                if name == "score":
                    training.append(out.manifest.summary["score_means"]["temporal"])
                    training_step.append(out.manifest.summary["score_means"]["step"])
        cli_root = typer.Typer()
        cli_root.add_typer(eval_app, name="eval")
        cli = CliRunner().invoke(
            cli_root,
            [
                "eval",
                "run",
                "--run",
                run,
                "--config",
                str(preset),
                *[arg for value in sets for arg in ("--set", value)],
                "--condition",
                "bootstrap=planner_smooth@base",
                "--condition",
                "trained=planner_smooth@latest",
            ],
        )
    finally:
        torch.set_num_threads(before)
    art = RunStore(run, cfg.storage).latest("evaluate", steps - 1) if cli.exit_code == 0 else None
    return LearningRun(seed, run, cfg, training, art, cli.output, cli.exit_code, training_step, variant)


def paired_gain(eval_artifact) -> tuple[float, object]:
    """(mean paired Δ trained − bootstrap of the programmatic temporal-following score, the per-prompt table)."""
    results = eval_artifact.read_table("results.parquet").to_pandas()
    tf = results[(results.judge == "programmatic") & (results.metric == "score")]
    paired = tf.pivot_table(index="prompt_id", columns="condition", values="value")
    return float((paired["trained"] - paired["bootstrap"]).mean()), paired
