"""Wall time of one RL step of the shapes default (configs/shapes.yaml), split by stage, measured in one run.

Runs the setup stages once (instructions, bootstrap — with a short bootstrap, since only the step is timed),
then a few RL steps through the stage runner (no Prefect), timing every stage. Prints each stage's mean seconds
per step and its fraction of the step, slowest first, so the slowest stage is visible. Fractions and ratios
come from the same run; absolute seconds depend on the machine.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

BOOTSTRAP_OVERRIDES = ["world.bootstrap.planner.steps=200", "world.bootstrap.executor.steps=200"]
"""A short warm start: the benchmark times RL steps, not the bootstrap (whose cost is printed separately)."""


def main(steps: int = 3, config: str = "configs/shapes.yaml") -> dict[str, float]:
    """Time `steps` RL steps of `config` by stage; print the table and return stage → fraction of a step."""
    import torch

    from plotline.config import load_config
    from stages.base import run_stage

    torch.set_num_threads(1)
    cfg = load_config([config] if Path(config).is_file() else [], BOOTSTRAP_OVERRIDES)
    seconds: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        run = str(Path(tmp) / "bench")
        setup = {}
        for name in cfg.orchestration.setup_stages:
            t0 = time.perf_counter()
            run_stage(name, cfg, run, 0, show_progress=False)
            setup[name] = time.perf_counter() - t0
        for step in range(steps):
            for name in cfg.orchestration.step_stages:
                t0 = time.perf_counter()
                run_stage(name, cfg, run, step, show_progress=False)
                seconds[name].append(time.perf_counter() - t0)
    mean = {k: sum(v) / len(v) for k, v in seconds.items()}
    total = sum(mean.values())
    fractions = {k: v / total for k, v in mean.items()}
    per_step = cfg.data.instructions_per_step or cfg.world.num_train_instructions
    print(
        f"shapes default: {per_step} instructions per step (pool {cfg.world.num_train_instructions}) × "
        f"M={cfg.planner.num_plans} plans × "
        f"N={cfg.executor.num_continuations} continuations, K={cfg.video.target_latent_frames} frames; "
        f"{steps} RL steps timed"
    )
    print(
        "setup (once): "
        + ", ".join(f"{k} {v:.1f}s" for k, v in setup.items())
        + f"  (short bootstrap: {', '.join(BOOTSTRAP_OVERRIDES)})"
    )
    print(f"{'stage':<18}{'s/step':>9}{'fraction':>10}{'× fastest':>11}")
    fastest = min(mean.values())
    for name, sec in sorted(mean.items(), key=lambda kv: -kv[1]):
        print(f"{name:<18}{sec:>9.2f}{fractions[name]:>10.1%}{sec / fastest:>11.1f}")
    print(f"{'one RL step':<18}{total:>9.2f}{1:>10.0%}")
    slowest = max(mean, key=mean.__getitem__)
    print(f"slowest stage: {slowest} ({fractions[slowest]:.0%} of a step)")
    return fractions


if __name__ == "__main__":
    main()
