"""Pinning checkpoint references into a stage's inputs: the only place `latest`, `step=N` and `<run URI>@…`
references open a store to decide what to read (see plotline.eval.checkpoints for the reference grammar).

`condition_inputs` is the evaluate stage's input pin (StageSpec.pins): for every condition it finds the committed
update_planner / update_executor outputs its reference (or an override naming a version folder) means, so they
are recorded in the output manifest's inputs and covered by its input digest; the library
(`plotline.eval.checkpoints.resolve_checkpoint`) then only reads what it is handed. `pin_reference` is the CLI's
older pin into the config (the chosen version-folder URIs become the condition's overrides).
"""

from __future__ import annotations

from plotline.eval.checkpoints import (
    EXECUTOR_STAGE,
    PLANNER_STAGE,
    CheckpointError,
    checkpoint_key,
    is_local_value,
    open_artifact,
    parse_reference,
    step_of,
)
from plotline.eval.config import EvalCondition, eval_section
from plotline.store import Artifact, RunStore
from plotline.store.config import StorageConfig

COMPONENTS = (("planner", PLANNER_STAGE), ("executor", EXECUTOR_STAGE))


def latest_update_step(store: RunStore) -> int | None:
    """The newest step with a committed update_planner or update_executor output."""
    found = [s for s in store.steps() if store.latest(PLANNER_STAGE, s) or store.latest(EXECUTOR_STAGE, s)]
    return max(found) if found else None


def reference_step(
    condition: EvalCondition, store: RunStore, step: int, storage: StorageConfig | None = None
) -> tuple[RunStore, int | None]:
    """(the store the reference reads, the step it means): `current` is `step`, `latest` the newest step with an
    update output, `step=N` N; `<run URI>@…` reads that run's store."""
    run, which = parse_reference(condition.checkpoint)
    src = RunStore(run, storage) if run else store
    at = step if which == "current" else latest_update_step(src) if which == "latest" else step_of(which)
    return src, at


def reference_artifacts(
    condition: EvalCondition, store: RunStore, step: int, storage: StorageConfig | None = None
) -> dict[str, Artifact | None]:
    """component → the committed update output (or None) the reference of a `latest` / `step=N` / other-run
    condition means; raises CheckpointError naming the condition when it means nothing committed."""
    src, at = reference_step(condition, store, step, storage)
    if at is None:
        raise CheckpointError(
            f"condition {condition.name!r}: {src.uri} has no committed update_planner or "
            "update_executor output (checkpoint `latest`)"
        )
    arts = {comp: src.latest(stage, at) for comp, stage in COMPONENTS}
    if all(a is None for a in arts.values()):
        raise CheckpointError(
            f"condition {condition.name!r}: checkpoint {condition.checkpoint!r} resolves to "
            f"step {at} of {src.uri}, which has no committed update output"
        )
    return arts


def pinned_condition(
    condition: EvalCondition, store: RunStore, step: int, storage: StorageConfig | None = None
) -> dict[str, Artifact | None]:
    """The input pins of one condition: checkpoint key → committed artifact (None: the reference means no output
    for that component). `base` and `current` components pin nothing (`current` is the stage's own update
    inputs); an override that names a version folder pins that folder; `none`, `base` and local folders pin
    nothing."""
    _, which = parse_reference(condition.checkpoint)
    overrides = {"planner": condition.planner_adapter, "executor": condition.executor_adapter}
    pins: dict[str, Artifact | None] = {}
    needs_reference = which not in ("base", "current") and any(v is None for v in overrides.values())
    arts = reference_artifacts(condition, store, step, storage) if needs_reference else {}
    for comp, _ in COMPONENTS:
        value = overrides[comp]
        if value is not None:
            if not is_local_value(value):
                pins[checkpoint_key(condition, comp)] = open_artifact(value, storage)
        elif needs_reference:
            pins[checkpoint_key(condition, comp)] = arts[comp]
    return pins


def condition_inputs(config, store: RunStore, step: int) -> dict[str, Artifact | None]:
    """The evaluate stage's pinned inputs: the pins of every condition of `eval.conditions` (see
    `pinned_condition`)."""
    pins: dict[str, Artifact | None] = {}
    for condition in eval_section(config).conditions:
        pins.update(pinned_condition(condition, store, step, config.storage))
    return pins


def pin_reference(
    condition: EvalCondition, store: RunStore, step: int, storage: StorageConfig | None = None
) -> EvalCondition:
    """`condition` with its components pinned in the config: the adapters its checkpoint reference resolves to
    now become `planner_adapter` / `executor_adapter` (version-folder URIs, or `base`), so the config names exact
    artifacts even for `latest` or `step=N`. The checkpoint label is kept. `current` at a step without update
    outputs is the base policy (nothing was trained yet)."""
    _, which = parse_reference(condition.checkpoint)
    if which == "base" or (condition.planner_adapter is not None and condition.executor_adapter is not None):
        return condition
    src, at = reference_step(condition, store, step, storage)
    planner = src.latest(PLANNER_STAGE, at) if at is not None else None
    executor = src.latest(EXECUTOR_STAGE, at) if at is not None else None
    if planner is None and executor is None and which == "current":
        return condition.model_copy(
            update={
                "planner_adapter": condition.planner_adapter or "base",
                "executor_adapter": condition.executor_adapter or "base",
            }
        )
    if planner is None and executor is None:
        raise CheckpointError(
            f"condition {condition.name!r}: checkpoint {condition.checkpoint!r} has no committed "
            f"update output in {src.uri}" + (f" at step {at}" if at is not None else "")
        )
    update = {}
    if condition.planner_adapter is None:
        update["planner_adapter"] = planner.uri if planner else "base"
    if condition.executor_adapter is None:
        update["executor_adapter"] = executor.uri if executor else "base"
    return condition.model_copy(update=update)
