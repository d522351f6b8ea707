"""Orchestration overhead, measured in one run on the shapes default (CPU).

1. Non-model time of one RL step: after the setup stages (short bootstrap), one step's stages run through the
   stage runner (no Prefect); model time is the wall time spent inside top-level nn.Module forwards and autograd
   backward calls (global hooks), non-model time the rest of each stage (imports, store, validation, encoding,
   and the shapes world's programmatic judges). The judges' own time (they stand in for VLM judge servers) is
   also reported apart, so the share of what is neither model nor judge (the framework) can be read too.
2. Prefect overhead per inline stage: each step stage, now committed, is run again (a cached run: the store
   skips it) once directly and then through `flows.dispatch.dispatch_stage` inside a parent flow, exactly as the
   inline train flow runs it (subflow + task, GPU slot, progress artifact); the difference is Prefect's cost.
   The Prefect pass is repeated `REPEATS` times; the mean over all of them is compared with the goal, the median
   is printed next to it. The ephemeral API's start is reported apart.
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
REPEATS = 3
"""Cached passes through Prefect (after one warm-up pass)."""


class JudgeClock:
    """Seconds spent inside the programmatic judge backend (the shapes world's stand-in for VLM judges)."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self) -> JudgeClock:
        from plotline.rewards.judges.programmatic import ProgrammaticJudgeBackend

        self._complete = original = ProgrammaticJudgeBackend.complete

        def timed(backend, requests):
            t0 = time.perf_counter()
            try:
                return original(backend, requests)
            finally:
                self.seconds += time.perf_counter() - t0

        ProgrammaticJudgeBackend.complete = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        from plotline.rewards.judges.programmatic import ProgrammaticJudgeBackend

        ProgrammaticJudgeBackend.complete = self._complete  # type: ignore[method-assign]


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
    import statistics

    import torch

    from plotline.config import load_config
    from stages.base import run_stage

    torch.set_num_threads(1)
    cfg = load_config([config] if Path(config).is_file() else [], BOOTSTRAP_OVERRIDES)
    stages = list(cfg.orchestration.step_stages)
    wall, model, judge = defaultdict(float), defaultdict(float), defaultdict(float)
    direct: dict[str, list[float]] = defaultdict(list)
    prefect: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        run = str(Path(tmp) / "bench")
        t0 = time.perf_counter()
        for name in cfg.orchestration.setup_stages:
            run_stage(name, cfg, run, 0, show_progress=False)
        setup_s = time.perf_counter() - t0
        for name in stages:
            with ModelClock() as clock, JudgeClock() as judges:
                t0 = time.perf_counter()
                run_stage(name, cfg, run, 0, show_progress=False)
                wall[name] = time.perf_counter() - t0
            model[name], judge[name] = clock.seconds, judges.seconds
        for _ in range(REPEATS):
            for name in stages:  # cached: every stage is committed, the store skips it
                t0 = time.perf_counter()
                outcome = run_stage(name, cfg, run, 0, show_progress=False)
                direct[name].append(time.perf_counter() - t0)
                if outcome.status == "committed":
                    raise RuntimeError(f"{name} ran again instead of being skipped; the overhead would include it")
        start_s = _prefect_overhead(cfg, run, stages, prefect)
    step, step_model, step_judge = sum(wall.values()), sum(model.values()), sum(judge.values())
    overhead = {n: [p - statistics.mean(direct[n]) for p in prefect[n]] for n in stages}
    print(
        f"shapes default, CPU, 1 thread; setup {setup_s:.0f}s (short bootstrap), Prefect API start {start_s:.1f}s; "
        f"Prefect: mean and median of {REPEATS} cached passes through dispatch_stage"
    )
    print(
        f"{'stage':<18}{'step s':>8}{'model s':>9}{'judge s':>9}{'non-model':>11}{'framework':>11}{'cached s':>10}"
        f"{'Prefect s':>11}{'median':>8}"
    )
    for name in stages:
        print(
            f"{name:<18}{wall[name]:>8.2f}{model[name]:>9.2f}{judge[name]:>9.2f}{1 - model[name] / wall[name]:>11.0%}"
            f"{1 - (model[name] + judge[name]) / wall[name]:>11.0%}{statistics.mean(direct[name]):>10.2f}"
            f"{statistics.mean(overhead[name]):>11.2f}{statistics.median(overhead[name]):>8.2f}"
        )
    every = [o for n in stages for o in overhead[n]]
    out = {
        "non_model_fraction": 1 - step_model / step,
        "framework_fraction": 1 - (step_model + step_judge) / step,
        "step_s": step,
        "prefect_overhead_mean_s": statistics.mean(every),
        "prefect_overhead_median_s": statistics.median(every),
        "prefect_overhead_max_s": max(every),
        "cached_step_s": sum(statistics.mean(direct[n]) for n in stages),
    }
    print(
        f"one step {step:.1f}s, model {step_model:.1f}s, judges {step_judge:.1f}s: non-model "
        f"{out['non_model_fraction']:.0%} of the step (goal ≤ 30 %), neither model nor judge "
        f"{out['framework_fraction']:.0%}; Prefect per inline stage mean {out['prefect_overhead_mean_s']:.2f}s, "
        f"median {out['prefect_overhead_median_s']:.2f}s, max {out['prefect_overhead_max_s']:.2f}s (goal ≤ 0.3 s); "
        f"cached step without Prefect {out['cached_step_s']:.2f}s"
    )
    return out


def _prefect_overhead(cfg, run: str, stages: list[str], out: dict[str, list[float]]) -> float:
    """Append to out[stage] the wall time of each of REPEATS cached dispatches of the stage (as the inline train
    flow dispatches it, input pins included); return the API start time (with one warm-up pass)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.dispatch import dispatch_stage
    from flows.params import StageParams
    from flows.resolve import input_pins
    from flows.stage_task import ensure_gpu_limit

    cfg_json = cfg.model_dump(mode="json")
    t0 = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=120):
        ensure_gpu_limit(cfg)

        @flow(name="bench-orchestration", persist_result=False)
        def parent(names: list[str], repeats: int) -> dict[str, list[float]]:
            seconds: dict[str, list[float]] = defaultdict(list)
            for _ in range(repeats):
                records: list[dict] = []
                for name in names:
                    params = StageParams(run_uri=run, step=0, config=cfg_json, inputs=input_pins(name, 0, records))
                    s = time.perf_counter()
                    records.append(dispatch_stage(name, params, cfg))
                    seconds[name].append(time.perf_counter() - s)
            return dict(seconds)

        parent(stages, 1)  # warm-up: client, first flow runs, imports
        start_s = time.perf_counter() - t0
        for name, times in parent(stages, REPEATS).items():
            out[name].extend(times)
    return start_s


def ratios(out: dict[str, float]) -> dict[str, float]:
    """The summary `make bench` prints."""
    return {
        "orchestration: non-model share of a CPU step": out["non_model_fraction"],
        "orchestration: neither model nor judge share of a CPU step": out["framework_fraction"],
        "orchestration: Prefect s per inline stage (mean)": out["prefect_overhead_mean_s"],
        "orchestration: Prefect s per inline stage (median)": out["prefect_overhead_median_s"],
    }


if __name__ == "__main__":
    main()
