"""Which planner and executor adapters an evaluation condition uses.

Checkpoint references (EvalCondition.checkpoint):
- `base`: the starting policy: `planner.cold_start_adapter` (or none) and the executor checkpoint without an RL
  adapter (the bootstrap policy in the shapes world);
- `current`: the update_planner / update_executor outputs at the evaluate stage's own step;
- `step=N`: those outputs at step N; `latest`: at the newest step that has any;
- `<run URI>@step=N`, `<run URI>@latest`: the same in another run.
A component without an update output at the chosen step is the base one, exactly as the next step's plan and
rollout stages would load it. Only committed manifests are read. `planner_adapter` / `executor_adapter`
override a component with `base`, `none`, a local adapter folder, or an update artifact's version-folder URI.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from plotline.eval.config import EvalCondition
from plotline.store import Artifact, RunStore
from plotline.store.config import StorageConfig

PLANNER_STAGE = "update_planner"
EXECUTOR_STAGE = "update_executor"
_STEP = re.compile(r"^step=(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint reference cannot be resolved; the message names the condition and what is missing."""


@dataclass
class ResolvedCheckpoint:
    """Local adapter folders of one condition and where they came from (for lineage and the report)."""

    label: str
    planner_adapter: Optional[str]
    executor_adapter: Optional[str]
    planner_source: str
    executor_source: str
    manifests: dict[str, str] = field(default_factory=dict)
    """component → manifest id of every committed artifact read."""


def split_version_uri(uri: str) -> tuple[str, str]:
    """(run URI, version folder) of a committed version folder URI `…/<run>/[checkpoints/]step=N/<stage>/vNNNN`."""
    text = uri.rstrip("/")
    if text.endswith("_manifest.json"):
        text = text[: -len("_manifest.json") - 1]
    parts = text.split("/")
    idx = next((i for i in range(len(parts) - 1, -1, -1) if parts[i].startswith("step=")), None)
    if idx is None or idx == 0:
        raise CheckpointError(f"{uri} is not a stage version folder (expected …/<run>/step=N/<stage>/vNNNN)")
    if idx >= 2 and parts[idx - 1] == "checkpoints":
        idx -= 1
    return "/".join(parts[:idx]), text


def open_artifact(uri: str, storage: Optional[StorageConfig] = None) -> Artifact:
    """The committed artifact at a version-folder URI (uncommitted folders are refused)."""
    run_uri, folder = split_version_uri(uri)
    return RunStore(run_uri, storage).artifact_at(folder)


def parse_reference(ref: str) -> tuple[Optional[str], str]:
    """(run URI or None for this run, `base` | `current` | `latest` | `step=N`) of a checkpoint reference."""
    ref = ref.strip()
    run, _, which = ref.rpartition("@") if "@" in ref else (None, "", ref)
    if not (which in ("base", "current", "latest") or _STEP.match(which)):
        raise CheckpointError(f"checkpoint {ref!r}: expected base, current, latest, step=N or <run URI>@step=N")
    if run is not None and which in ("base", "current"):
        raise CheckpointError(f"checkpoint {ref!r}: `{which}` refers to this run; use <run URI>@step=N or @latest")
    return run or None, which


def latest_update_step(store: RunStore) -> Optional[int]:
    """The newest step with a committed update_planner or update_executor output."""
    found = [s for s in store.steps() if store.latest(PLANNER_STAGE, s) or store.latest(EXECUTOR_STAGE, s)]
    return max(found) if found else None


def _adapter_folder(art: Artifact, prefix: str) -> str:
    return art.local_dir(prefix)


def _override(value: str, prefix: str, storage: Optional[StorageConfig],
              base: Optional[str]) -> tuple[Optional[str], str, Optional[Artifact]]:
    if value.lower() == "none":
        return None, "none", None
    if value.lower() == "base":
        return base, (f"cold start {base}" if base else "none"), None
    path = Path(value)
    if path.is_dir() and (path / "adapter_config.json").is_file():
        return str(path), f"folder {value}", None
    art = open_artifact(value, storage)
    return _adapter_folder(art, prefix), art.uri, art


def resolve_checkpoint(condition: EvalCondition, store: RunStore, step: int, cold_start: Optional[str],
                       storage: Optional[StorageConfig] = None,
                       current: Optional[dict[str, Optional[Artifact]]] = None) -> ResolvedCheckpoint:
    """The adapters of `condition` (see module docstring). `current` may hold the stage's resolved inputs
    (`planner_adapter`, `executor_adapter`) for the `current` reference."""
    run, which = parse_reference(condition.checkpoint)
    exec_prefix = condition.executor_weights
    arts: dict[str, Optional[Artifact]] = {"planner": None, "executor": None}
    pinned = condition.planner_adapter is not None and condition.executor_adapter is not None
    if not pinned and which == "current" and current is not None:
        arts = {"planner": current.get("planner_adapter"), "executor": current.get("executor_adapter")}
    elif not pinned and which != "base":
        src = RunStore(run, storage) if run else store
        at = step if which == "current" else (latest_update_step(src) if which == "latest"
                                              else int(_STEP.match(which).group(1)))
        if at is None:
            raise CheckpointError(f"condition {condition.name!r}: {src.uri} has no committed update_planner or "
                                  "update_executor output (checkpoint `latest`)")
        arts = {"planner": src.latest(PLANNER_STAGE, at), "executor": src.latest(EXECUTOR_STAGE, at)}
        if arts["planner"] is None and arts["executor"] is None:
            raise CheckpointError(f"condition {condition.name!r}: checkpoint {condition.checkpoint!r} resolves to "
                                  f"step {at} of {src.uri}, which has no committed update output")
    planner_dir = _adapter_folder(arts["planner"], "adapter") if arts["planner"] else cold_start
    planner_src = arts["planner"].uri if arts["planner"] else (f"cold start {cold_start}" if cold_start else "none")
    executor_dir = executor_src = None
    if arts["executor"] is not None:
        if not any(f.startswith(exec_prefix + "/") for f in arts["executor"].files):
            raise CheckpointError(f"condition {condition.name!r}: {arts['executor'].uri} has no {exec_prefix}/ "
                                  f"(files: {', '.join(sorted({f.split('/')[0] for f in arts['executor'].files}))})")
        executor_dir, executor_src = _adapter_folder(arts["executor"], exec_prefix), arts["executor"].uri
    if condition.planner_adapter is not None:
        planner_dir, planner_src, arts["planner"] = _override(condition.planner_adapter, "adapter", storage,
                                                              cold_start)
    if condition.executor_adapter is not None:
        executor_dir, executor_src, arts["executor"] = _override(condition.executor_adapter, exec_prefix, storage,
                                                                 None)
    manifests = {k: a.manifest.manifest_id for k, a in arts.items() if a is not None}
    return ResolvedCheckpoint(condition.checkpoint, planner_dir, executor_dir, planner_src, executor_src or "none",
                              manifests)


def pin_reference(condition: EvalCondition, store: RunStore, step: int,
                  storage: Optional[StorageConfig] = None) -> EvalCondition:
    """`condition` with its components pinned: the adapters its checkpoint reference resolves to now become
    `planner_adapter` / `executor_adapter` (version-folder URIs, or `base`), so the config, and with it the
    stage's cache key, names exact artifacts even for `latest` or `step=N`. The checkpoint label is kept.
    `current` at a step without update outputs is the base policy (nothing was trained yet)."""
    run, which = parse_reference(condition.checkpoint)
    if which == "base" or (condition.planner_adapter is not None and condition.executor_adapter is not None):
        return condition
    src = RunStore(run, storage) if run else store
    at = step if which == "current" else (latest_update_step(src) if which == "latest"
                                          else int(_STEP.match(which).group(1)))
    planner = src.latest(PLANNER_STAGE, at) if at is not None else None
    executor = src.latest(EXECUTOR_STAGE, at) if at is not None else None
    if planner is None and executor is None and which == "current":
        return condition.model_copy(update={"planner_adapter": condition.planner_adapter or "base",
                                            "executor_adapter": condition.executor_adapter or "base"})
    if planner is None and executor is None:
        raise CheckpointError(f"condition {condition.name!r}: checkpoint {condition.checkpoint!r} has no committed "
                              f"update output in {src.uri}" + (f" at step {at}" if at is not None else ""))
    update = {}
    if condition.planner_adapter is None:
        update["planner_adapter"] = planner.uri if planner else "base"
    if condition.executor_adapter is None:
        update["executor_adapter"] = executor.uri if executor else "base"
    return condition.model_copy(update=update)
