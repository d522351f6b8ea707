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

from dataclasses import dataclass
from pathlib import Path

KERNEL_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}
"""Environment that pins torch's CPU kernels (read when torch loads)."""

PRESET = Path(__file__).resolve().parents[1] / "configs" / "shapes.yaml"


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


def train_and_evaluate(seed: int, steps: int, root: str | Path, preset: Path = PRESET) -> LearningRun:
    """Run the setup stages, `steps` RL steps and `plotline eval run` (bootstrap vs trained) under `root`."""
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
        cfg = load_config([preset], [f"seed={seed}", storage])
        run = str(Path(root) / "runs" / f"learn-s{seed}")
        for name in cfg.orchestration.setup_stages:
            run_stage(name, cfg, run, 0, show_progress=False)
        training = []
        for step in range(steps):
            for name in cfg.orchestration.step_stages:
                out = run_stage(name, cfg, run, step, show_progress=False)
                if name == "score":
                    training.append(out.manifest.summary["score_means"]["temporal"])
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
                "--set",
                f"seed={seed}",
                "--set",
                storage,
                "--condition",
                "bootstrap=planner_smooth@base",
                "--condition",
                "trained=planner_smooth@latest",
            ],
        )
    finally:
        torch.set_num_threads(before)
    art = RunStore(run, cfg.storage).latest("evaluate", steps - 1) if cli.exit_code == 0 else None
    return LearningRun(seed, run, cfg, training, art, cli.output, cli.exit_code)


def paired_gain(eval_artifact) -> tuple[float, object]:
    """(mean paired Δ trained − bootstrap of the programmatic temporal-following score, the per-prompt table)."""
    results = eval_artifact.read_table("results.parquet").to_pandas()
    tf = results[(results.judge == "programmatic") & (results.metric == "score")]
    paired = tf.pivot_table(index="prompt_id", columns="condition", values="value")
    return float((paired["trained"] - paired["bootstrap"]).mean()), paired
