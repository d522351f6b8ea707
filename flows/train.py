"""The train flow (DESIGN §2): setup stages once, then plan → rollout → score → advantage → updates per step.

Resuming is free: every stage whose inputs and config are already committed is skipped by the store.
"""
from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.stage_task import run_stage_task
from plotline.config import PlotlineConfig


def check_pipeline(config: PlotlineConfig) -> None:
    """Fail early, naming them, if the configured stages are not all registered."""
    import stages  # noqa: F401
    from stages.base import registry

    known = registry()
    missing = [s for s in config.orchestration.setup_stages + config.orchestration.step_stages if s not in known]
    if missing:
        raise ValueError(f"orchestration stages {missing} are not available; registered stages: {', '.join(sorted(known))}")


@flow(name="train", log_prints=True)
def train_flow(config: dict, run_uri: str, steps: int | None = None, start_step: int = 0) -> list[dict[str, Any]]:
    """Run (or resume) `steps` RL steps of a run; returns every stage's manifest reference."""
    cfg = PlotlineConfig.model_validate(config)
    check_pipeline(cfg)
    logger = get_run_logger()
    total = steps if steps is not None else cfg.steps
    orch = cfg.orchestration
    task = run_stage_task.with_options(
        retries=orch.stage_retries,
        retry_delay_seconds=[orch.retry_delay_s * 2 ** i for i in range(orch.stage_retries)] or 0)
    records: list[dict[str, Any]] = []
    for name in orch.setup_stages:
        records.append(task(name, config, run_uri, 0))
    for step in range(start_step, start_step + total):
        for name in orch.step_stages:
            records.append(task(name, config, run_uri, step))
        logger.info(f"step {step} done: " + ", ".join(f"{r['stage']}={r['status']}" for r in records if r["step"] == step))
    return records
