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

The library never opens a store to decide what a reference means: the evaluate stage pins every `latest`,
`step=N`, other-run and version-folder reference into its inputs (stages/pins.py, keys `checkpoint_key`), and
`resolve_checkpoint` reads only those pinned inputs and the stage's own `current` inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    planner_adapter: str | None
    executor_adapter: str | None
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


def open_artifact(uri: str, storage: StorageConfig | None = None) -> Artifact:
    """The committed artifact at a version-folder URI (uncommitted folders are refused)."""
    run_uri, folder = split_version_uri(uri)
    return RunStore(run_uri, storage).artifact_at(folder)


def parse_reference(ref: str) -> tuple[str | None, str]:
    """(run URI or None for this run, `base` | `current` | `latest` | `step=N`) of a checkpoint reference."""
    ref = ref.strip()
    run, _, which = ref.rpartition("@") if "@" in ref else (None, "", ref)
    if not (which in ("base", "current", "latest") or _STEP.match(which)):
        raise CheckpointError(f"checkpoint {ref!r}: expected base, current, latest, step=N or <run URI>@step=N")
    if run is not None and which in ("base", "current"):
        raise CheckpointError(f"checkpoint {ref!r}: `{which}` refers to this run; use <run URI>@step=N or @latest")
    return run or None, which


def step_of(which: str) -> int:
    """N of a `step=N` reference."""
    return int(_STEP.match(which).group(1))


def checkpoint_key(condition: EvalCondition, component: str) -> str:
    """The stage input key under which the artifact of `component` (planner/executor) of `condition` is pinned."""
    return f"checkpoint:{condition.name}:{component}"


def is_local_value(value: str) -> bool:
    """Whether an adapter override needs no store: `none`, `base` or a local adapter folder."""
    path = Path(value)
    return value.lower() in ("none", "base") or (path.is_dir() and (path / "adapter_config.json").is_file())


def _adapter_folder(art: Artifact, prefix: str) -> str:
    return art.local_dir(prefix)


def _pinned(condition: EvalCondition, component: str, inputs: Mapping[str, Artifact | None]) -> Artifact | None:
    key = checkpoint_key(condition, component)
    if key not in inputs:
        raise CheckpointError(
            f"condition {condition.name!r}: the {component} of checkpoint {condition.checkpoint!r} "
            f"was not pinned into the stage's inputs (expected input {key!r}; the evaluate stage "
            "pins it, see stages/pins.py)"
        )
    return inputs[key]


def _override(
    condition: EvalCondition,
    component: str,
    value: str,
    prefix: str,
    inputs: Mapping[str, Artifact | None],
    base: str | None,
) -> tuple[str | None, str, Artifact | None]:
    if value.lower() == "none":
        return None, "none", None
    if value.lower() == "base":
        return base, (f"cold start {base}" if base else "none"), None
    if is_local_value(value):
        return str(Path(value)), f"folder {value}", None
    art = _pinned(condition, component, inputs)
    if art is None:
        raise CheckpointError(f"condition {condition.name!r}: {component} adapter {value} is pinned to nothing")
    return _adapter_folder(art, prefix), art.uri, art


def resolve_checkpoint(
    condition: EvalCondition, inputs: Mapping[str, Artifact | None], cold_start: str | None
) -> ResolvedCheckpoint:
    """The adapters of `condition` (see module docstring) from the stage's resolved inputs: `current` reads the
    stage's `planner_adapter` / `executor_adapter` inputs, `latest` / `step=N` / other-run references and
    version-folder overrides read the artifacts pinned under `checkpoint_key` (a missing pin is an error);
    no store is opened."""
    _, which = parse_reference(condition.checkpoint)
    exec_prefix = condition.executor_weights
    arts: dict[str, Artifact | None] = {"planner": None, "executor": None}
    overridden = condition.planner_adapter is not None and condition.executor_adapter is not None
    if not overridden and which == "current":
        arts = {"planner": inputs.get("planner_adapter"), "executor": inputs.get("executor_adapter")}
    elif not overridden and which != "base":
        arts = {
            comp: (_pinned(condition, comp, inputs) if override is None else None)
            for comp, override in (("planner", condition.planner_adapter), ("executor", condition.executor_adapter))
        }
    planner_dir = _adapter_folder(arts["planner"], "adapter") if arts["planner"] else cold_start
    planner_src = arts["planner"].uri if arts["planner"] else (f"cold start {cold_start}" if cold_start else "none")
    executor_dir = executor_src = None
    if arts["executor"] is not None:
        if not any(f.startswith(exec_prefix + "/") for f in arts["executor"].files):
            raise CheckpointError(
                f"condition {condition.name!r}: {arts['executor'].uri} has no {exec_prefix}/ "
                f"(files: {', '.join(sorted({f.split('/')[0] for f in arts['executor'].files}))})"
            )
        executor_dir, executor_src = _adapter_folder(arts["executor"], exec_prefix), arts["executor"].uri
    if condition.planner_adapter is not None:
        planner_dir, planner_src, arts["planner"] = _override(
            condition, "planner", condition.planner_adapter, "adapter", inputs, cold_start
        )
    if condition.executor_adapter is not None:
        executor_dir, executor_src, arts["executor"] = _override(
            condition, "executor", condition.executor_adapter, exec_prefix, inputs, None
        )
    manifests = {k: a.manifest.manifest_id for k, a in arts.items() if a is not None}
    return ResolvedCheckpoint(
        condition.checkpoint, planner_dir, executor_dir, planner_src, executor_src or "none", manifests
    )
