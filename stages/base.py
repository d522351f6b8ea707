"""The stage protocol: a stage is a pure function of (config, committed input manifests) -> one committed output.

See docs/CONTRIBUTING-stages.md. Nothing here imports Prefect; flows call `run_stage`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from plotline.config import PlotlineConfig, config_hash
from plotline.progress import Progress, ProgressEvent, reporter, track
from plotline.store import AlreadyCommitted, Artifact, ArtifactWriter, InputRef, Manifest, MissingInput, RunStore
from plotline.store.manifest import input_digest
from plotline.version import code_version

T = TypeVar("T")


@dataclass(frozen=True)
class InputSpec:
    """One input of a stage: the committed output of `stage` at `step + step_offset`.

    An input whose step would be negative (e.g. the previous step's adapter at step 0) is None.
    `optional=True` also allows a missing input at a valid step. `fixed_step` reads a run-level artifact at an
    absolute step instead (e.g. the instructions, made once at step 0).
    """

    key: str
    stage: str
    step_offset: int = 0
    optional: bool = False
    area: str = "steps"
    fixed_step: int | None = None


@dataclass(frozen=True)
class StageSpec:
    """Declaration of a stage: name, inputs, output kinds, the config sections its cache key covers, and run()."""

    name: str
    summary: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    config_sections: tuple[str, ...]
    """The dotted config sections the stage reads: the one declaration its cache key is derived from
    (`stage_config_key`; placement fields inside them are left out) and that its manifest records."""
    run: Callable[[StageContext], None]
    area: str = "steps"
    cache_extra: Callable[[PlotlineConfig], str] | None = None
    """Extra cache-key material outside the config (e.g. the sha256 of an imported file)."""
    pins: Callable[[PlotlineConfig, RunStore, int], dict[str, Artifact | None]] | None = None
    """Inputs the stage pins from its config at input resolution (e.g. evaluate's `latest` / `step=N`
    checkpoints): key → committed artifact (None: the reference means nothing for that key). They are inputs
    like the declared ones: in `ctx.inputs`, in the manifest's inputs and in the input digest."""
    streamed: Callable[[PlotlineConfig], tuple[str, ...]] | None = None
    """Input keys the stage can consume while their producer is still writing them (plotline.store.parts), under
    the config (e.g. score's `rollouts` when `orchestration.stream_score` is on). When such an input is not
    committed yet, run() starts without it (`ctx.inputs[key]` None, the key in `ctx.deferred`) and must put the
    committed artifact in `ctx.inputs[key]` before it returns; run_stage then resolves the inputs again, derives
    the input digest and reuses a committed output with that digest (discarding this attempt) or commits.
    The lineage stamp of safetensors files written by such a run names only the inputs known at its start."""


_REGISTRY: dict[str, StageSpec] = {}


def register(spec: StageSpec) -> StageSpec:
    """Add a stage to the registry (called at import time by each stage module)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name].run is not spec.run:
        raise RuntimeError(f"stage {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def registry() -> dict[str, StageSpec]:
    """All registered stages (import `stages` first so every module has registered)."""
    return dict(_REGISTRY)


@dataclass
class StageContext:
    """What a stage's run() sees: config, step, resolved inputs and the output writer."""

    config: PlotlineConfig
    run_id: str
    step: int
    stage: str
    inputs: dict[str, Artifact | None]
    output: ArtifactWriter
    store: RunStore
    show_progress: bool = True
    """Whether progress reports also reach this process's listeners (plotline.progress.listening: the CLI's bar)."""
    deferred: frozenset[str] = frozenset()
    """Streamed input keys not committed when the run started (StageSpec.streamed); run() fills them in."""
    _progress_hook: Callable[[ProgressEvent], None] | None = field(default=None, repr=False)

    def seed(self, *keys: Any) -> int:
        """A deterministic 31-bit seed from the global seed, this step, this stage and extra keys."""
        text = "|".join(str(k) for k in (self.config.seed, self.step, self.stage, *keys))
        return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF

    def reporter(self, description: str | None = None) -> Progress:
        """The `Progress(done, total, loss)` callback of one task of this stage, labelled `<stage>@<step>` plus
        `description`: its reports go to the stage's hook (e.g. a Prefect progress artifact) and, with
        `show_progress`, to this process's listeners (the CLI's bar)."""
        label = f"{self.stage}@{self.step}" + (f" {description}" if description and description != self.stage else "")
        return reporter(label, self._progress_hook, broadcast=self.show_progress)

    def progress(self, iterable: Iterable[T], total: int | None = None, description: str | None = None) -> Iterator[T]:
        """Iterate over `iterable`, reporting each finished item through `reporter(description)`."""
        return track(iterable, self.reporter(description), total)


@dataclass
class StageOutcome:
    """Result of run_stage: `committed` (new version) or `skipped` (same inputs and config already committed)."""

    status: str
    artifact: Artifact
    message: str

    @property
    def manifest(self) -> Manifest:
        """The committed manifest (new or reused)."""
        return self.artifact.manifest


def open_pinned(store: RunStore, ref: str) -> Artifact:
    """The committed artifact a pinned input names: a version folder of this run (relative or URL), or the full
    version-folder URI of another run's artifact (e.g. a bootstrap checkpoint shared by several runs)."""
    from plotline.eval.checkpoints import open_artifact
    from plotline.store.errors import StoreError

    try:
        return store.artifact_at(ref)
    except StoreError:
        if f"{store.run_id}/" in ref.rstrip("/") + "/":
            raise
        return open_artifact(ref, store.fs.config)


def resolve_inputs(
    spec: StageSpec,
    store: RunStore,
    step: int,
    pinned: dict[str, str] | None = None,
    config: PlotlineConfig | None = None,
    defer: tuple[str, ...] = (),
) -> tuple[dict[str, Artifact | None], list[InputRef]]:
    """Find the committed manifest of every input (newest version, or a pinned version folder URI), and, given
    the `config`, of the inputs the stage pins from it (`spec.pins`). An uncommitted input named in `defer` is
    None (and has no ref) instead of a MissingInput error."""
    found: dict[str, Artifact | None] = {}
    refs: list[InputRef] = []
    for inp in spec.inputs:
        in_step = inp.fixed_step if inp.fixed_step is not None else step + inp.step_offset
        if pinned and inp.key in pinned:
            art: Artifact | None = open_pinned(store, pinned[inp.key])
        elif in_step < 0:
            art = None
        else:
            art = store.latest(inp.stage, in_step, inp.area)
            if art is None and not inp.optional and inp.key not in defer:
                raise MissingInput(
                    f"stage {spec.name!r} at step {step} needs input {inp.key!r}: the committed output of stage "
                    f"{inp.stage!r} at step {in_step} ({store.fs.url(store.run_id)}/"
                    f"{'checkpoints/' if inp.area == 'checkpoints' else ''}step={in_step:06d}/{inp.stage}/), "
                    f"and none is committed. Run `plotline stage {inp.stage} --run {store.uri} --step {in_step}` first."
                )
        found[inp.key] = art
        if art is not None:
            m = art.manifest
            refs.append(
                InputRef(
                    key=inp.key,
                    stage=m.stage,
                    step=m.step,
                    version=m.version,
                    area=m.area,
                    manifest_id=m.manifest_id,
                    path=art.prefix if m.run_id == store.run_id else art.uri,
                )
            )
    if spec.pins is not None and config is not None:
        for key, art in spec.pins(config, store, step).items():
            found[key] = art
            if art is not None:  # another run's artifact is named by its full URI
                m = art.manifest
                path = art.prefix if m.run_id == store.run_id else art.uri
                refs.append(
                    InputRef(
                        key=key,
                        stage=m.stage,
                        step=m.step,
                        version=m.version,
                        area=m.area,
                        manifest_id=m.manifest_id,
                        path=path,
                    )
                )
    return found, refs


def stage_config_key(spec: StageSpec, config: PlotlineConfig) -> str:
    """The config part of a stage's cache key: the hash of its declared sections' result-affecting settings,
    combined with its cache extra when it has one."""
    chash = config_hash(config, spec.config_sections)
    if spec.cache_extra is not None:
        chash = hashlib.sha256(f"{chash}|{spec.cache_extra(config)}".encode()).hexdigest()
    return chash


def stage_digest(spec: StageSpec, config: PlotlineConfig, refs: list[InputRef]) -> tuple[str, str]:
    """(config key, input digest) of one stage run: a committed output with this input digest is reused."""
    chash = stage_config_key(spec, config)
    return chash, input_digest(chash, refs)


def get_spec(name: str) -> StageSpec:
    """The registered stage `name` (every built-in stage module imported first), or a KeyError naming the others."""
    import stages  # noqa: F401 - registers every stage module

    specs = registry()
    if name not in specs:
        raise KeyError(f"unknown stage {name!r}; available: {', '.join(sorted(specs)) or 'none'}")
    return specs[name]


def _committed_with(store: RunStore, spec: StageSpec, step: int, digest: str) -> StageOutcome | None:
    """The `skipped` outcome of the newest committed output of `spec` at `step` with input digest `digest`."""
    for art in reversed(store.artifacts(spec.name, step, spec.area)):
        if art.manifest.input_digest == digest:
            return StageOutcome(
                "skipped",
                art,
                f"{spec.name} step {step}: already committed as v{art.manifest.version} "
                f"({art.uri}); same inputs and config, nothing to do",
            )
    return None


def _resolve_deferred(
    spec: StageSpec,
    ctx: StageContext,
    store: RunStore,
    step: int,
    pinned: dict[str, str] | None,
    config: PlotlineConfig,
) -> tuple[list[InputRef], str, str]:
    """(refs, config key, input digest) of a run that started with deferred inputs, resolved after run(): each
    deferred input must now be committed, and be the artifact run() consumed."""
    inputs, refs = resolve_inputs(spec, store, step, pinned, config)
    for key in sorted(ctx.deferred):
        used, now = ctx.inputs.get(key), inputs[key]
        if used is None:
            raise RuntimeError(f"stage {spec.name!r} streamed input {key!r} but never recorded its committed artifact")
        if now is None or now.manifest.manifest_id != used.manifest.manifest_id:
            raise MissingInput(
                f"stage {spec.name!r} at step {step} consumed {key!r} as {used.uri} (manifest "
                f"{used.manifest.manifest_id}), but its input now resolves to "
                f"{now.uri if now is not None else 'nothing'}; run it again"
            )
    chash, digest = stage_digest(spec, config, refs)
    return refs, chash, digest


def run_stage(
    name: str,
    config: PlotlineConfig,
    run_uri: str,
    step: int,
    *,
    force: bool = False,
    pinned_inputs: dict[str, str] | None = None,
    show_progress: bool = True,
    progress_hook: Callable[[ProgressEvent], None] | None = None,
) -> StageOutcome:
    """Run one stage: resolve inputs, skip if already committed for the same inputs+config, else write and commit.

    The stage's progress reports (`StageContext.reporter`) go to `progress_hook` and, with `show_progress`, to this
    process's progress listeners (plotline.progress).

    A failure inside the stage (including a contract violation) removes this attempt's files and commits nothing.
    `force=True` writes a new version next to the existing ones instead of skipping.
    """
    spec = get_spec(name)
    store = RunStore(run_uri, config.storage)
    streamed = tuple(spec.streamed(config)) if spec.streamed is not None else ()
    inputs, refs = resolve_inputs(spec, store, step, pinned_inputs, config, defer=streamed)
    deferred = frozenset(k for k in streamed if inputs.get(k) is None)
    chash, digest = stage_digest(spec, config, refs)
    if not force and not deferred:
        found = _committed_with(store, spec, step, digest)
        if found is not None:
            return found
    version = store.next_version(spec.name, step, spec.area)
    attempt = f"attempt-{uuid.uuid4().hex[:12]}"
    lineage = ",".join(f"{r.key}={r.manifest_id}" for r in refs)
    stamp = {
        "plotline.run_id": store.run_id,
        "plotline.stage": spec.name,
        "plotline.step": str(step),
        "plotline.version": str(version),
        "plotline.lineage": lineage,
        "plotline.code_version": code_version(),
    }
    writer = store.open_writer(spec.name, step, version, attempt, stamp, spec.area)
    ctx = StageContext(
        config=config,
        run_id=store.run_id,
        step=step,
        stage=spec.name,
        inputs=inputs,
        output=writer,
        store=store,
        show_progress=show_progress,
        deferred=deferred,
        _progress_hook=progress_hook,
    )
    started = time.monotonic()
    try:
        spec.run(ctx)
        if deferred:
            refs, chash, digest = _resolve_deferred(spec, ctx, store, step, pinned_inputs, config)
            found = None if force else _committed_with(store, spec, step, digest)
            if found is not None:
                writer.abort()
                return found
        writer.summary.setdefault("wall_s", round(time.monotonic() - started, 3))
        if not writer.files:
            raise RuntimeError(f"stage {name!r} wrote no files; refusing to commit an empty output")
        manifest = Manifest(
            run_id=store.run_id,
            stage=spec.name,
            step=step,
            version=version,
            area=spec.area,
            code_version=code_version(),
            config_hash=chash,
            config_sections=list(spec.config_sections),
            input_digest=digest,
            inputs=refs,
            attempt=attempt,
        )
        manifest.summary["writer"] = f"{socket.gethostname()}:{os.getpid()}"
        writer.summary.setdefault("writer", manifest.summary["writer"])
        store.ensure_run_file(config.model_dump(mode="json"), code_version())  # a failed stage leaves no run.json
        art = store.commit(writer, manifest)
    except AlreadyCommitted:
        raise
    except BaseException:
        writer.abort()
        raise
    return StageOutcome("committed", art, f"{name} step {step}: committed v{version} ({art.uri})")
