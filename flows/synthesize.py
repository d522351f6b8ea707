"""The synthesize flow: run the configured synthesis stage (`orchestration.synthesize_stage`, default
`synthesize`: LLM-written ordered-event instructions) at a step of a run (default 0). Without that stage the flow
fails with a message naming it, and `plotline deploy` registers no deployment for it."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.evaluate import run_one_stage
from flows.params import resolve_config


@flow(name="synthesize", log_prints=True, persist_result=False)
def synthesize_flow(
    config: dict | None = None,
    run_uri: str | None = None,
    step: int = 0,
    config_files: list[str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the synthesis stage for a run at `step`; returns the output's manifest reference.

    Args:
        config: A fully resolved configuration (what a parent passes); leave empty in the UI and use presets + overrides.
        run_uri: Run folder or s3:// URI; empty: {storage.root}/{run_name} of the resolved config.
        step: Step the synthesised instructions are written to.
        config_files: YAML presets merged in order, relative to the worker's working directory (default: configs/shapes.yaml).
        overrides: key=value settings applied on top, e.g. storage.root=/data/runs, run_name=demo, seed=1.
        force: Write a new version even when these inputs and this config are already committed.
    """
    cfg = resolve_config(config, config_files, overrides)
    return run_one_stage(
        cfg.orchestration.synthesize_stage, cfg.model_dump(mode="json"), run_uri, step, None, None, force
    )
