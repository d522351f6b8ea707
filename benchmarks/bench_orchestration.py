"""Orchestration overhead, measured in one run on the shapes default (CPU).

1. Non-model time of one RL step: after the setup stages (short bootstrap), one step's stages run through the
   stage runner (no Prefect); model time is the wall time spent inside top-level nn.Module forwards, autograd
   backward calls and optimizer steps (global hooks; the optimizer steps are also printed apart, with the share
   without them), non-model time the rest of each stage (imports, store, validation, encoding, and the shapes
   world's programmatic judges). The judges' own time (they stand in for VLM judge servers) is also reported
   apart, so the share of what is neither model nor judge (the framework) can be read too.
2. Prefect overhead per inline stage: each step stage, now committed, is run again (a cached run: the store
   skips it) once directly and then through `flows.dispatch.dispatch_stage` inside a parent flow, exactly as the
   inline train flow runs it (subflow + task, GPU slot, progress artifact); the difference is Prefect's cost.
   The Prefect pass is repeated `REPEATS` times, each followed by a pass of the previous path (the committed-output
   check left out: a cached GPU stage takes its slot); the mean over all of them is compared with the goal, the
   median is printed next to it. The ephemeral API's start is reported apart. A cached GPU stage takes no GPU slot (its
   output is committed: nothing runs); what a slot's take and release cost a GPU stage that runs is measured apart.
3. Contract validation of the step's tables, old and new side by side (interleaved, same tables): one full-report
   (`SUMMARY`) great-expectations pass as before, and today's cheap first pass (a full report only on failure).
4. Orchestration at real size, a statement computed from counts: the per-step orchestration seconds measured here
   (Prefect per stage × step stages + validation) over a real-size step (16 prompts × 4 plans, each one plan's
   rollout and update at the Wan-1.3B size at their FLOP floor on an H200, `bench_rollout_flops` counts at k=12)
   spread over 32 GPUs (TempAct's) or 1. `PLOTLINE_BENCH_REAL_SIZE=0` leaves it out (the counting takes minutes).
Prints the ratios next to the issue's goals (≤ 0.3 s per inline stage; non-model ≤ 30 % of a CPU step, ≤ 5 % of a
real-size step).
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
"""Cached passes through Prefect (after one warm-up pass), slot round trips and validation passes."""
REAL_STEP_PLANS = 16 * 4
"""Plans per real-size step (TempAct: 16 prompts × 4 plans, each rolled out with N=8 continuations)."""
REAL_GPUS = (32, 1)
"""GPUs a real-size step is spread over for the statement (TempAct's 32, and one)."""


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
    """Seconds spent inside top-level module forwards, autograd backward calls and optimizer steps while installed
    (`optimizer_seconds`: the optimizer steps' part of `seconds`)."""

    def __init__(self):
        self.seconds, self.optimizer_seconds, self._depth, self._t0 = 0.0, 0.0, 0, 0.0
        self._opt_t0 = 0.0

    def _opt_pre(self, optimizer, args, kwargs):
        self._opt_t0 = time.perf_counter()

    def _opt_post(self, optimizer, args, kwargs):
        if self._depth == 0:
            dt = time.perf_counter() - self._opt_t0
            self.seconds += dt
            self.optimizer_seconds += dt

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
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        self._handles = [
            m.register_module_forward_pre_hook(self._pre),
            m.register_module_forward_hook(self._post),
            register_optimizer_step_pre_hook(self._opt_pre),
            register_optimizer_step_post_hook(self._opt_post),
        ]
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
    """Measure and print the step's non-model share, Prefect's per-stage overhead, the validation cost old and new,
    and the orchestration share of a real-size step; return the ratios."""
    import statistics

    import torch

    from plotline.config import load_config
    from stages.base import run_stage

    torch.set_num_threads(1)
    cfg = load_config([config] if Path(config).is_file() else [], BOOTSTRAP_OVERRIDES)
    stages = list(cfg.orchestration.step_stages)
    wall, model, optim, judge = defaultdict(float), defaultdict(float), defaultdict(float), defaultdict(float)
    direct: dict[str, list[float]] = defaultdict(list)
    prefect: dict[str, list[float]] = defaultdict(list)
    prefect_old: dict[str, list[float]] = defaultdict(list)
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
            model[name], optim[name], judge[name] = clock.seconds, clock.optimizer_seconds, judges.seconds
        for _ in range(REPEATS):
            for name in stages:  # cached: every stage is committed, the store skips it
                t0 = time.perf_counter()
                outcome = run_stage(name, cfg, run, 0, show_progress=False)
                direct[name].append(time.perf_counter() - t0)
                if outcome.status == "committed":
                    raise RuntimeError(f"{name} ran again instead of being skipped; the overhead would include it")
        validation = validation_old_and_new(cfg, run, stages)
        start_s, slot_s = _prefect_overhead(cfg, run, stages, prefect, prefect_old)
    step, step_model, step_judge = sum(wall.values()), sum(model.values()), sum(judge.values())
    step_optim = sum(optim.values())
    overhead = {n: [p - statistics.mean(direct[n]) for p in prefect[n]] for n in stages}
    overhead_old = [p - statistics.mean(direct[n]) for n in stages for p in prefect_old[n]]
    print(
        f"shapes default, CPU, 1 thread; setup {setup_s:.0f}s (short bootstrap), Prefect API start {start_s:.1f}s; "
        f"Prefect: mean and median of {REPEATS} cached passes through dispatch_stage"
    )
    print(
        f"{'stage':<18}{'step s':>8}{'model s':>9}{'optim s':>9}{'judge s':>9}{'non-model':>11}{'framework':>11}"
        f"{'cached s':>10}{'Prefect s':>11}{'median':>8}"
    )
    for name in stages:
        print(
            f"{name:<18}{wall[name]:>8.2f}{model[name]:>9.2f}{optim[name]:>9.2f}{judge[name]:>9.2f}"
            f"{1 - model[name] / wall[name]:>11.0%}{1 - (model[name] + judge[name]) / wall[name]:>11.0%}"
            f"{statistics.mean(direct[name]):>10.2f}{statistics.mean(overhead[name]):>11.2f}"
            f"{statistics.median(overhead[name]):>8.2f}"
        )
    every = [o for n in stages for o in overhead[n]]
    out = {
        "non_model_fraction": 1 - step_model / step,
        "non_model_fraction_without_optimizer": 1 - (step_model - step_optim) / step,
        "framework_fraction": 1 - (step_model + step_judge) / step,
        "step_s": step,
        "prefect_overhead_mean_s": statistics.mean(every),
        "prefect_overhead_median_s": statistics.median(every),
        "prefect_overhead_max_s": max(every),
        "prefect_overhead_old_mean_s": statistics.mean(overhead_old),
        "prefect_overhead_old_median_s": statistics.median(overhead_old),
        "gpu_slot_s": slot_s,
        "cached_step_s": sum(statistics.mean(direct[n]) for n in stages),
        **validation,
    }
    print(
        f"one step {step:.1f}s, model {step_model:.1f}s (optimizer steps {step_optim:.2f}s of it), judges "
        f"{step_judge:.1f}s: non-model {out['non_model_fraction']:.0%} of the step (goal ≤ 30 %; "
        f"{out['non_model_fraction_without_optimizer']:.0%} counting optimizer steps as non-model), neither model "
        f"nor judge {out['framework_fraction']:.0%}; Prefect per inline stage mean {out['prefect_overhead_mean_s']:.2f}s, "
        f"median {out['prefect_overhead_median_s']:.2f}s, max {out['prefect_overhead_max_s']:.2f}s (goal ≤ 0.3 s); "
        f"previous path (cached GPU stages take a slot), interleaved: mean {out['prefect_overhead_old_mean_s']:.2f}s, "
        f"median {out['prefect_overhead_old_median_s']:.2f}s; a GPU slot's take and release {slot_s:.2f}s (a GPU stage that runs; a cached one takes none); "
        f"cached step without Prefect {out['cached_step_s']:.2f}s"
    )
    print(
        f"validation of the step's {validation['validation_tables']:.0f} tables, mean per table: one full-report pass "
        f"(before) {validation['validation_old_s']:.3f}s, cheap first pass (now) {validation['validation_new_s']:.3f}s: "
        f"{validation['validation_old_s'] / validation['validation_new_s']:.1f}x"
    )
    if os.environ.get("PLOTLINE_BENCH_REAL_SIZE", "1") != "0":  # counting at real size takes a few minutes
        out.update(real_size_share(out, len(stages)))
    return out


def _step_tables(cfg, run: str, stages: list[str]) -> list[tuple[str, object, dict]]:
    """(kind, table, params) of every contract-checked table the step committed, with the params it was checked
    with."""
    from plotline.store import RunStore

    store = RunStore(run, cfg.storage)
    tables = []
    for name in stages:
        art = store.latest(name, 0)
        if art is None:
            continue
        params = {v.get("file"): v.get("params", {}) for v in art.manifest.validation}
        for entry in art.manifest.files:
            if entry.kind:
                tables.append((entry.kind, art.read_table(entry.name), params.get(entry.name, {})))
    return tables


def validation_old_and_new(cfg, run: str, stages: list[str]) -> dict[str, float]:
    """Mean seconds per table of validating the step's tables the old way (one `SUMMARY` pass, GE's own class-name
    conversion) and the new way (`data_contracts.validate`), interleaved, REPEATS times each."""
    import great_expectations.expectations.expectation as expectation_module

    import data_contracts.ge_runner as ge_runner
    from data_contracts import get_kind, validate
    from data_contracts.validate import to_validation_frame

    tables = _step_tables(cfg, run, stages)
    if not tables:
        return {"validation_tables": 0.0, "validation_old_s": float("nan"), "validation_new_s": float("nan")}
    ge_runner._context()
    memo = expectation_module.camel_to_snake
    old_s = new_s = 0.0
    for _ in range(REPEATS):
        for kind, table, params in tables:
            expectation_module.camel_to_snake = getattr(memo, "__wrapped__", memo)
            try:
                t0 = time.perf_counter()
                frame = to_validation_frame(kind, table)
                result = ge_runner._validate(frame, ge_runner.suite_for(get_kind(kind)), params, "SUMMARY")
                old_s += time.perf_counter() - t0
            finally:
                expectation_module.camel_to_snake = memo
            t0 = time.perf_counter()
            report = validate(kind, table, params)
            new_s += time.perf_counter() - t0
            if report.success != result.success:
                raise RuntimeError(f"{kind}: the two validation paths disagree")
    n = REPEATS * len(tables)
    return {"validation_tables": float(len(tables)), "validation_old_s": old_s / n, "validation_new_s": new_s / n}


def real_size_share(out: dict[str, float], n_stages: int) -> dict[str, float]:
    """Orchestration seconds of one step (Prefect per stage × stages + validation of the step's tables, as measured
    here; neither grows with the model) over a real-size step at its FLOP floor, from bench_rollout_flops' counts
    (one plan's rollout and update at k=12 on an H200), REAL_STEP_PLANS plans spread over each of REAL_GPUS."""
    import contextlib
    import io

    from benchmarks import bench_rollout_flops as flops

    with contextlib.redirect_stdout(io.StringIO()):
        counted = flops.main(["--k", "12"])[0]
    peak = 790e12
    plan_s = counted["floor_s"] + counted["update"] / peak
    orchestration_s = n_stages * out["prefect_overhead_mean_s"] + out["validation_tables"] * out["validation_new_s"]
    res = {"real_plan_floor_s": plan_s, "orchestration_step_s": orchestration_s}
    parts = []
    for gpus in REAL_GPUS:
        step_s = REAL_STEP_PLANS * plan_s / gpus
        res[f"real_share_{gpus}gpu"] = orchestration_s / (orchestration_s + step_s)
        parts.append(f"{gpus} GPU(s): step floor {step_s:.0f}s, orchestration {res[f'real_share_{gpus}gpu']:.1%}")
    print(
        f"real size (FLOP counts, k=12, H200 peak): one plan's rollout + update floor {plan_s:.1f}s; orchestration "
        f"{orchestration_s:.2f}s per step ({n_stages} stages × Prefect + validation); {'; '.join(parts)} "
        f"(goal ≤ 5 %; the floor is the shortest a step can be, so real shares are smaller)"
    )
    return res


def _prefect_overhead(
    cfg, run: str, stages: list[str], out: dict[str, list[float]], old: dict[str, list[float]]
) -> tuple[float, float]:
    """Append to out[stage] the wall time of each of REPEATS cached dispatches of the stage (as the inline train
    flow dispatches it, input pins included), and to old[stage] that of the previous path (interleaved: the
    committed-output check left out, so a cached GPU stage takes its slot as before); return the API start time
    (with one warm-up pass) and the mean seconds of a GPU slot's take and release (what a GPU stage that runs
    adds; nan without a GPU limit)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from flows.dispatch import dispatch_stage
    from flows.params import StageParams
    from flows.resolve import input_pins
    from flows.stage_task import ensure_gpu_limit, gpu_slot

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
        import flows.stage_task as stage_task

        fresh = stage_task.committed_record
        for _ in range(REPEATS):  # interleaved: today's path, then the previous one (a cached GPU stage took a slot)
            for name, times in parent(stages, 1).items():
                out[name].extend(times)
            stage_task.committed_record = lambda *args: None  # type: ignore[assignment]
            try:
                for name, times in parent(stages, 1).items():
                    old[name].extend(times)
            finally:
                stage_task.committed_record = fresh
        gpu = [n for n in stages if cfg.orchestration.is_gpu_stage(n)]

        @flow(name="bench-gpu-slot", persist_result=False)
        def slots(name: str, repeats: int) -> float:
            t0 = time.perf_counter()
            for _ in range(repeats):
                with gpu_slot(cfg, name, log=lambda line: None):
                    pass
            return (time.perf_counter() - t0) / repeats

        slot_s = slots(gpu[0], REPEATS) if gpu else float("nan")
    return start_s, slot_s


def ratios(out: dict[str, float]) -> dict[str, float]:
    """The summary `make bench` prints (the parts a run measured)."""
    res = {
        "orchestration: non-model share of a CPU step": out["non_model_fraction"],
        "orchestration: neither model nor judge share of a CPU step": out["framework_fraction"],
        "orchestration: Prefect s per inline stage (mean)": out["prefect_overhead_mean_s"],
        "orchestration: Prefect s per inline stage (median)": out["prefect_overhead_median_s"],
    }
    if "prefect_overhead_old_mean_s" in out:
        res["orchestration: Prefect s per inline stage, previous path (mean)"] = out["prefect_overhead_old_mean_s"]
    if "gpu_slot_s" in out:
        res["orchestration: GPU slot take+release s (a running GPU stage)"] = out["gpu_slot_s"]
    if out.get("validation_new_s"):
        res["orchestration: validation s per table, before / now"] = out["validation_old_s"] / out["validation_new_s"]
    for g in REAL_GPUS:
        if f"real_share_{g}gpu" in out:
            res[f"orchestration: share of a real-size step at its floor, {g} GPU(s)"] = out[f"real_share_{g}gpu"]
    return res


if __name__ == "__main__":
    main()
