"""Orchestration overhead, measured in one run on the shapes default (CPU).

1. Non-model time of one RL step: after the setup stages (short bootstrap), one step's stages run through the
   stage runner (no Prefect); model time is the wall time spent inside top-level nn.Module forwards and autograd
   backward calls (global hooks), non-model time the rest of each stage (imports, store, validation, encoding).
2. Prefect overhead per inline stage: each step stage, now committed, is run again (a cached run: the store
   skips it) once directly and once as its Prefect stage flow (subflow + task, GPU slot, progress artifact), as
   the inline train flow runs it; the difference is Prefect's cost. The ephemeral API's start is reported apart.
Prints the ratios next to the issue's goals (≤ 0.3 s per inline stage; non-model ≤ 30 % of a CPU step).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BOOTSTRAP_OVERRIDES = ["world.bootstrap.planner.steps=200", "world.bootstrap.executor.steps=200"]
"""A short warm start (only the step is measured)."""


class ModelClock:
    """Seconds spent inside top-level module forwards and autograd backward calls while installed."""

    def __init__(self):
        self.seconds, self._depth, self._t0 = 0.0, 0, 0.0

    def _pre(self, module, args):
        if self._depth == 0:
            self._t0 = time.perf_counter()
        self._depth += 1

    def _post(self, module, args, out):
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._t0

    def __enter__(self) -> ModelClock:
        import torch
        from torch.nn.modules import module as m

        self._handles = [m.register_module_forward_pre_hook(self._pre), m.register_module_forward_hook(self._post)]
        self._backward = torch.autograd.backward

        def timed_backward(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return self._backward(*args, **kwargs)
            finally:
                if self._depth == 0:
                    self.seconds += time.perf_counter() - t0

        torch.autograd.backward = timed_backward
        return self

    def __exit__(self, *exc) -> None:
        import torch

        for h in self._handles:
            h.remove()
        torch.autograd.backward = self._backward


def main(config: str = "configs/shapes.yaml") -> dict[str, float]:
    """Measure and print the step's non-model share and Prefect's per-stage overhead; return the ratios."""
    import torch

    from plotline.config import load_config
    from stages.base import run_stage

    torch.set_num_threads(1)
    cfg = load_config([config] if Path(config).is_file() else [], BOOTSTRAP_OVERRIDES)
    stages = list(cfg.orchestration.step_stages)
    wall, model, direct, prefect = defaultdict(float), defaultdict(float), {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        run = str(Path(tmp) / "bench")
        t0 = time.perf_counter()
        for name in cfg.orchestration.setup_stages:
            run_stage(name, cfg, run, 0, show_progress=False)
        setup_s = time.perf_counter() - t0
        for name in stages:
            with ModelClock() as clock:
                t0 = time.perf_counter()
                run_stage(name, cfg, run, 0, show_progress=False)
                wall[name] = time.perf_counter() - t0
            model[name] = clock.seconds
        for name in stages:  # cached: every stage is committed, the store skips it
            t0 = time.perf_counter()
            outcome = run_stage(name, cfg, run, 0, show_progress=False)
            direct[name] = time.perf_counter() - t0
            if outcome.status == "committed":
                raise RuntimeError(f"{name} ran again instead of being skipped; the overhead would include its work")
        start_s = _prefect_overhead(cfg, run, stages, prefect)
    step, step_model = sum(wall.values()), sum(model.values())
    print(f"shapes default, CPU, 1 thread; setup {setup_s:.0f}s (short bootstrap), Prefect API start {start_s:.1f}s")
    print(f"{'stage':<18}{'step s':>8}{'model s':>9}{'non-model':>11}{'cached s':>10}{'Prefect s':>11}")
    for name in stages:
        print(
            f"{name:<18}{wall[name]:>8.2f}{model[name]:>9.2f}{1 - model[name] / wall[name]:>11.0%}"
            f"{direct[name]:>10.2f}{prefect[name] - direct[name]:>11.2f}"
        )
    overhead = {n: prefect[n] - direct[n] for n in stages}
    out = {
        "non_model_fraction": 1 - step_model / step,
        "step_s": step,
        "prefect_overhead_mean_s": sum(overhead.values()) / len(overhead),
        "prefect_overhead_max_s": max(overhead.values()),
        "cached_step_s": sum(direct.values()),
    }
    print(
        f"one step {step:.1f}s, model {step_model:.1f}s: non-model {out['non_model_fraction']:.0%} of the step "
        f"(goal ≤ 30 %); Prefect per inline stage mean {out['prefect_overhead_mean_s']:.2f}s, max "
        f"{out['prefect_overhead_max_s']:.2f}s (goal ≤ 0.3 s); cached step without Prefect {out['cached_step_s']:.2f}s"
    )
    return out


def _prefect_overhead(cfg, run: str, stages: list[str], out: dict[str, float]) -> float:
    """Fill out[stage] with the wall time of the stage's flow on a cached run; return the API start time."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.params import StageParams
    from flows.stage_flows import stage_flow
    from flows.stage_task import ensure_gpu_limit

    cfg_json = cfg.model_dump(mode="json")
    t0 = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=120):
        ensure_gpu_limit(cfg)

        @flow(name="bench-orchestration", persist_result=False)
        def parent(names: list[str]) -> dict[str, float]:
            seconds = {}
            for name in names:
                s = time.perf_counter()
                stage_flow(name)(StageParams(run_uri=run, step=0, config=cfg_json))
                seconds[name] = time.perf_counter() - s
            return seconds

        parent(stages[:1])  # warm-up: client, first flow run, imports
        start_s = time.perf_counter() - t0
        out.update(parent(stages))
    return start_s


def ratios(out: dict[str, float]) -> dict[str, float]:
    """The summary `make bench` prints."""
    return {
        "orchestration: non-model share of a CPU step": out["non_model_fraction"],
        "orchestration: Prefect s per inline stage (mean)": out["prefect_overhead_mean_s"],
    }


if __name__ == "__main__":
    main()
