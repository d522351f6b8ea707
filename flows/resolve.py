"""What the store already holds for a stage run: its input digest, its committed output, the resume point.

No Prefect here. The digest is `stages.base.stage_digest`, the one `run_stage` uses, so the flows can skip
committed work without starting anything, build idempotency keys for deployment runs, and find the manifest a
child process or a deployment run committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from plotline.config import PlotlineConfig
from plotline.store import Artifact, MissingInput, RunStore
from plotline.store.manifest import InputRef


@dataclass
class StagePlan:
    """One stage run as the store sees it before it runs."""

    name: str
    step: int
    digest: str
    refs: list[InputRef]
    committed: Artifact | None
    area: str
    versions: list[int]


def record(artifact: Artifact, status: str) -> dict[str, Any]:
    """The small JSON-able reference to a committed output that flows pass around (never data)."""
    m = artifact.manifest
    return {
        "stage": m.stage,
        "step": m.step,
        "version": m.version,
        "status": status,
        "manifest_id": m.manifest_id,
        "uri": artifact.uri,
        "summary": m.summary,
    }


def plan_stage(
    name: str, config: PlotlineConfig, run_uri: str, step: int, pinned: dict[str, str] | None = None
) -> StagePlan:
    """Resolve a stage's inputs and digest and find an already committed output for them.

    Raises MissingInput when a required input is not committed yet.
    """
    from stages.base import get_spec, resolve_inputs, stage_digest

    spec = get_spec(name)
    store = RunStore(run_uri, config.storage)
    _, refs = resolve_inputs(spec, store, step, pinned or None, config)
    _, digest = stage_digest(spec, config, refs)
    versions = store.versions(spec.name, step, spec.area)
    committed = find_committed(store, spec.name, step, digest, spec.area, versions)
    return StagePlan(name, step, digest, refs, committed, spec.area, versions)


def find_committed(
    store: RunStore,
    stage: str,
    step: int,
    digest: str,
    area: str = "steps",
    versions: Iterable[int] | None = None,
    newer_than: int | None = None,
) -> Artifact | None:
    """The newest committed version of `stage` at `step` with input digest `digest` (optionally only newer ones)."""
    for v in sorted(versions if versions is not None else store.versions(stage, step, area), reverse=True):
        if newer_than is not None and v <= newer_than:
            break
        art = store.artifact(stage, step, v, area)
        if art.manifest.input_digest == digest:
            return art
    return None


def input_pins(name: str, step: int, records: list[dict[str, Any]]) -> dict[str, str]:
    """Pin each input of `name` at `step` to the manifest a record of this flow produced (if any)."""
    from stages.base import registry

    by_key = {(r["stage"], r["step"]): r["uri"] for r in records}
    pins = {}
    for inp in registry()[name].inputs:
        in_step = inp.fixed_step if inp.fixed_step is not None else step + inp.step_offset
        uri = by_key.get((inp.stage, in_step))
        if in_step >= 0 and uri:
            pins[inp.key] = uri
    return pins


def scan_committed(config: PlotlineConfig, run_uri: str, sequence: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Records of the leading stage runs of `sequence` that are already committed for the same inputs and config.

    The train flow resumes after them (the last committed step) without starting a task for each.
    """
    done: list[dict[str, Any]] = []
    for name, step in sequence:
        try:
            plan = plan_stage(name, config, run_uri, step, input_pins(name, step, done))
        except MissingInput:
            break
        if plan.committed is None:
            break
        done.append(record(plan.committed, "skipped"))
    return done


def idempotency_key(
    run_uri: str, step: int, stage: str, digest: str, attempt: int = 0, force_version: int | None = None
) -> str:
    """Key of one stage run started through a deployment: the same run, step, stage and inputs give the same key,
    so a retried or restarted parent finds the run it started before instead of starting a duplicate."""
    parts = [run_uri.rstrip("/"), f"step={step}", stage, digest]
    if force_version is not None:
        parts.append(f"force-v{force_version}")
    tail = f"/attempt-{attempt}" if attempt else ""
    return f"plotline/{stage}@{step}/{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}{tail}"
