"""Registry of the job kinds a worker process can run.

A job module registers its function with `@register_job("kind")`; the parent builds a `WorkerSpec` with
`job_spec(kind, ...)` (which records the registering module), and the worker entry point imports that module and
calls the function with a `WorkerContext`. A job returns a JSON value (or None), which the worker hands back to
the parent (see `plotline.parallel.launch`). This package imports no job module itself: the dependency points from
the job packages (executor, planner, rl) to `plotline.parallel`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from plotline.parallel.collective import Collective
from plotline.parallel.progress import ProgressFile, progress_path
from plotline.parallel.spec import WorkerSpec
from plotline.progress import Progress, no_progress

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class WorkerContext:
    """What a job function receives: its spec, the collective of its launch and the torch device to compute on."""

    spec: WorkerSpec
    collective: Collective
    """The identity collective for a shard process; an `AccelerateCollective` under `accelerate launch`."""
    device: str
    """Torch device string of this process (`cpu`, `cuda`, `cuda:1`, ...)."""
    reporters: list[ProgressFile] = field(default_factory=list, compare=False, repr=False)
    """The progress files this process's `reporter` calls made (the worker flushes them when the job returns)."""

    @property
    def rank(self) -> int:
        """This worker's rank: the shard index of a shard process, the process index under `accelerate launch`."""
        return self.collective.rank if self.spec.launcher == "accelerate" else self.spec.shard

    def reporter(self, description: str) -> Progress:
        """A Progress whose latest report the parent reads from `<workdir>/progress/rank<r>-<n>.json` and
        forwards as `shard <r> <description>` / `rank <r> <description>` (see `plotline.parallel.progress`);
        reports are discarded when the spec has no work folder (a job run outside a launch)."""
        if not self.spec.workdir:
            return no_progress
        out = ProgressFile(progress_path(self.spec.workdir, self.rank, len(self.reporters)), self.rank, description)
        self.reporters.append(out)
        return out

    def flush_progress(self) -> None:
        """Write every reporter's latest report that the throttle held back."""
        for out in self.reporters:
            out.flush()

    def section(self, name: str, model: type[M], **overrides: Any) -> M:
        """Config section `name` of the spec validated as `model` (with `overrides` applied to its fields); a
        missing or invalid section raises ValueError naming the job kind and the section."""
        if name not in self.spec.sections:
            raise ValueError(
                f"worker job {self.spec.kind!r}: the spec has no config section {name!r} "
                f"(it has {sorted(self.spec.sections)})"
            )
        try:
            return model.model_validate({**self.spec.sections[name], **overrides})
        except ValidationError as exc:
            raise ValueError(f"worker job {self.spec.kind!r}: config section {name!r}: {exc}") from None

    def input(self, name: str) -> Any:
        """Input `name` of the spec; a missing one raises KeyError naming the job kind and the inputs it has."""
        if name not in self.spec.inputs:
            raise KeyError(
                f"worker job {self.spec.kind!r}: the spec has no input {name!r} (it has {sorted(self.spec.inputs)})"
            )
        return self.spec.inputs[name]


JobFunction = Callable[[WorkerContext], Any]


@dataclass(frozen=True)
class JobKind:
    """A registered job: its name, function and the module that defines (and registers) it."""

    name: str
    run: JobFunction
    module: str


JOBS: dict[str, JobKind] = {}
"""Job kind name → registered job."""


def register_job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator registering a job function under `name`; a second, different function for the same name raises."""

    def deco(fn: JobFunction) -> JobFunction:
        known = JOBS.get(name)
        if known is not None and (known.module, known.run.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"job kind {name!r} is already registered by {known.module}.{known.run.__qualname__}")
        JOBS[name] = JobKind(name, fn, fn.__module__)
        return fn

    return deco


def get_job(name: str) -> JobKind:
    """The job registered under `name`; an unknown name raises KeyError listing the registered kinds."""
    if name not in JOBS:
        raise KeyError(f"unknown worker job kind {name!r}; registered: {sorted(JOBS)}")
    return JOBS[name]


def job_spec(
    kind: str,
    *,
    sections: dict[str, BaseModel],
    inputs: dict[str, Any],
    out_dir: str,
    device: Literal["cpu", "cuda"] = "cpu",
) -> WorkerSpec:
    """The spec of job `kind` (which must be registered in this process) with the given config sections (dumped to
    JSON), inputs, output folder and device (`cpu`/`cuda`; `run_shards` sets each shard's own); the launcher fills
    in the work folder, shard and launcher."""
    job = get_job(kind)
    return WorkerSpec(
        kind=kind,
        module=job.module,
        out_dir=str(out_dir),
        inputs=dict(inputs),
        device=device,
        sections={k: v.model_dump(mode="json") for k, v in sections.items()},
    )
