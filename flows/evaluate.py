"""The evaluate flow: run the configured evaluation stage (`orchestration.evaluate_stage`, default `evaluate`) on
a step of a run, by default its newest complete step (the adapters that step's updates wrote). Without that stage
the flow fails with a message naming it, and `plotline deploy` registers no deployment for it."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.dispatch import dispatch_stage
from flows.params import StageParams, check_stages, resolve_config
from flows.resolve import input_pins
from flows.stage_task import ensure_gpu_limit
from flows.train import default_run_uri
from plotline.config import PlotlineConfig
from plotline.store import RunStore


def latest_step(config: PlotlineConfig, run_uri: str) -> int:
    """The newest complete step of a run (every `orchestration.step_stages` stage committed there); else the newest
    step with any committed output; 0 for an empty run."""
    store = RunStore(run_uri, config.storage)
    steps = sorted(set(store.steps()) | set(store.steps("checkpoints")), reverse=True)
    for step in steps:
        if all(store.versions(stage, step) for stage in config.orchestration.step_stages):
            return step
    return steps[0] if steps else 0


def run_one_stage(
    stage: str,
    config: dict | None,
    run_uri: str | None,
    step: int | None,
    config_files: list[str] | None,
    overrides: list[str] | None,
    force: bool = False,
) -> dict[str, Any]:
    """Shared body of the single-stage flows: resolve config, run URI and step, then dispatch the stage."""
    cfg = resolve_config(config, config_files, overrides)
    check_stages(cfg, [stage])
    run_uri = run_uri or default_run_uri(cfg)
    step = latest_step(cfg, run_uri) if step is None else step
    get_run_logger().info(f"{stage} on {run_uri} at step {step} ({cfg.orchestration.mode} mode)")
    if cfg.orchestration.is_gpu_stage(stage):
        ensure_gpu_limit(cfg)
    params = StageParams(
        run_uri=run_uri, step=step, config=cfg.model_dump(mode="json"), inputs=input_pins(stage, step, []), force=force
    )
    return dispatch_stage(stage, params, cfg)


@flow(name="evaluate", log_prints=True, persist_result=False)
def evaluate_flow(
    config: dict | None = None,
    run_uri: str | None = None,
    step: int | None = None,
    config_files: list[str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Evaluate a run at `step` (default: its newest complete step); returns the evaluation's manifest reference.

    Args:
        config: A fully resolved configuration (what a parent passes); leave empty in the UI and use presets + overrides.
        run_uri: Run folder or s3:// URI; empty: {storage.root}/{run_name} of the resolved config.
        step: Step to evaluate (default: the run's newest complete step).
        config_files: YAML presets merged in order, relative to the worker's working directory (default: configs/shapes.yaml).
        overrides: key=value settings applied on top, e.g. storage.root=/data/runs, run_name=demo, seed=1.
        force: Write a new version even when these inputs and this config are already committed.
    """
    cfg = resolve_config(config, config_files, overrides)
    return run_one_stage(
        cfg.orchestration.evaluate_stage, cfg.model_dump(mode="json"), run_uri, step, None, None, force
    )
