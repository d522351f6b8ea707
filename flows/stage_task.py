"""One stage as a Prefect task: only manifest references cross Prefect; the store decides skipping."""
from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from plotline.config import PlotlineConfig


def outcome_record(outcome) -> dict[str, Any]:
    """The small, JSON-able description of a stage outcome that flows pass around (never tensors)."""
    m = outcome.manifest
    return {"stage": m.stage, "step": m.step, "version": m.version, "status": outcome.status,
            "manifest_id": m.manifest_id, "uri": outcome.artifact.uri, "summary": m.summary}


@task(name="stage", cache_policy=NO_CACHE, task_run_name="{name}@{step}")
def run_stage_task(name: str, config: dict, run_uri: str, step: int, force: bool = False) -> dict[str, Any]:
    """Run stage `name` at `step` in-process and return its manifest reference."""
    from stages.base import run_stage

    cfg = PlotlineConfig.model_validate(config)
    outcome = run_stage(name, cfg, run_uri, step, force=force, show_progress=False)
    get_run_logger().info(outcome.message)
    return outcome_record(outcome)
