"""The root `plotline` app: train, stage, audit, ui, deploy, memory, config; the sub-apps mount at the end."""

from __future__ import annotations

import csv
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from plotline.cli.common import fail as _fail
from plotline.cli.common import quiet_library_bars as _quiet_library_bars
from plotline.config import ConfigError, config_hash, load_config
from plotline.console import console, err

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="plotline: planner + AR video diffusion executor trained with group-relative RL.",
)

CONFIG_OPT = typer.Option(
    None, "--config", "-c", help="YAML preset(s), merged in order (default: configs/shapes.yaml if present)."
)
SET_OPT = typer.Option(None, "--set", "-s", help="Override a key, e.g. --set rl.executor.clip=1e-5 (repeatable).")


def _config(paths: list[str] | None, overrides: list[str] | None):
    if not paths:
        default = Path("configs/shapes.yaml")
        paths = [str(default)] if default.is_file() else []
    return load_config(paths, overrides or [])


def _stage_config(run: str, paths: list[str] | None, overrides: list[str] | None):
    """The config of a stage rerun: the run's recorded config unless --config replaces it (see cli/rerun.py);
    prints where it came from and every key that differs from the recorded one."""
    from plotline.cli.rerun import rerun_config
    from plotline.store import RunStore
    from plotline.store.errors import StoreError

    base = _config(paths, overrides)  # also the storage settings to read run.json with
    try:
        recorded = RunStore(run, base.storage).run_info().get("config")
    except StoreError:
        recorded = None
    default = Path("configs/shapes.yaml")
    cfg, diff, source = rerun_config(recorded, paths, overrides, [str(default)] if default.is_file() else [])
    if recorded is not None:
        console.print(f"config: {source}", highlight=False, soft_wrap=True)
        if diff:
            console.print(f"config differs from the run's recorded config in {len(diff)} key(s):", highlight=False)
            for line in diff:
                console.print(f"  {line}", highlight=False, soft_wrap=True)
    return cfg


@app.command("stage")
def stage_cmd(
    name: str | None = typer.Argument(None, help="Stage to run (see --list)."),
    run: str | None = typer.Option(None, "--run", help="Run URI: a local folder or s3://bucket/prefix/run-id."),
    step: int = typer.Option(0, "--step", min=0, help="Training step."),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
    force: bool = typer.Option(False, "--force", help="Write a new version even if this input+config is committed."),
    input_: list[str] | None = typer.Option(None, "--input", help="Pin an input: key=<version folder URI>."),
    list_: bool = typer.Option(False, "--list", help="List the stages with their inputs and outputs."),
) -> None:
    """Run one stage from the committed manifests of its inputs (or list the stages)."""
    import stages  # noqa: F401
    from stages.base import registry, run_stage

    specs = registry()
    if list_:
        table = Table(title="plotline stages")
        for col in ("stage", "inputs", "outputs", "cache key covers", "summary"):
            table.add_column(col)
        for spec in sorted(specs.values(), key=lambda s: s.name):
            ins = (
                ", ".join(
                    f"{i.key}<-{i.stage}{'@step' + format(i.step_offset, '+d') if i.step_offset else ''}"
                    f"{'?' if i.optional else ''}"
                    for i in spec.inputs
                )
                or "-"
            )
            table.add_row(spec.name, ins, ", ".join(spec.outputs), ", ".join(spec.config_sections), spec.summary)
        console.print(table)
        return
    if not name:
        _fail("give a stage name, or --list")
    if name not in specs:
        _fail(f"unknown stage {name!r}; available: {', '.join(sorted(specs))}")
    if not run:
        _fail("--run is required (e.g. --run runs/demo)")
    pinned = {}
    for item in input_ or []:
        if "=" not in item:
            _fail(f"--input {item!r} must be key=<uri>")
        k, v = item.split("=", 1)
        pinned[k] = v
    try:
        cfg = _stage_config(run, config, set_)
        from plotline.cli.progress_view import progress_display

        _quiet_library_bars()
        with progress_display(console):
            outcome = run_stage(name, cfg, run, step, force=force, pinned_inputs=pinned)
    except ConfigError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - every stage failure is reported, not dumped
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    console.print(outcome.message, highlight=False, soft_wrap=True)
    console.print(f"manifest {outcome.manifest.manifest_id}", highlight=False)


@app.command("validate")
def validate_cmd(uri: str = typer.Argument(..., help="A committed version folder (or its _manifest.json).")) -> None:
    """Re-check a committed artifact: every file's sha256 and size, schemas, the great-expectations suites, finite
    tensors, and no file the manifest does not list."""
    from plotline.store import RunStore
    from plotline.store.layout import MANIFEST_NAME
    from plotline.store.verify import verify_artifact

    text = uri.rstrip("/")
    if text.endswith(MANIFEST_NAME):
        text = text[: -len(MANIFEST_NAME) - 1]
    parts = text.split("/")
    run_idx = next((i for i in range(len(parts) - 1, -1, -1) if parts[i].startswith("step=")), None)
    if run_idx is None or run_idx == 0:
        _fail(f"{uri} is not a stage version folder (expected .../<run>/step=N/<stage>/vNNNN)")
    if run_idx >= 2 and parts[run_idx - 1] == "checkpoints":
        run_idx -= 1
    run_uri = "/".join(parts[:run_idx])
    try:
        art = RunStore(run_uri).artifact_at(text)
        report = verify_artifact(art)
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    for line in report.lines + report.notes:
        console.print(line, highlight=False, soft_wrap=True)
    if not report.ok:
        err.print(f"invalid: {art.uri}: " + "; ".join(report.failures), highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]valid:[/] {art.uri} (manifest {art.manifest.manifest_id})", highlight=False)


@app.command("audit")
def audit_cmd(
    run: str = typer.Option(..., "--run", help="Run URI."),
    step: int | None = typer.Option(None, "--step", help="Only this step."),
    stage: str | None = typer.Option(None, "--stage", help="Only this stage."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also write the table (and best/worst rows) as CSV."),
    sample: str | None = typer.Option(
        None,
        "--sample",
        help="Explain one sample's reward: a plan id "
        "(<instruction>#m0) or a continuation id (<plan>/c0), as the artifacts name it.",
    ),
    version: int | None = typer.Option(
        None,
        "--version",
        help="With --sample: the version of the step's most "
        "downstream stage to follow (default: its newest); its lineage picks the rest.",
    ),
    json_out: bool = typer.Option(False, "--json", help="With --sample: print the chain as JSON."),
) -> None:
    """Print what a run (or one step/stage of it) produced: counts, score statistics, best/worst samples, and which
    version of each stage the newest downstream output consumed. With --sample: the full chain of one sample."""
    from plotline.audit import audit_run
    from plotline.store import RunStore

    if sample is not None:
        from plotline.cli.audit_chain import print_chain

        print_chain(run, step, sample, version, json_out)
        return
    if version is not None or json_out:
        _fail("--version and --json go with --sample")
    try:
        report = audit_run(RunStore(run), step=step, stage=stage)
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    if not report.rows:
        _fail(
            f"nothing committed in {run}"
            + (f" at step {step}" if step is not None else "")
            + (f" for stage {stage}" if stage else ""),
            code=1,
        )
    table = Table(title=f"audit of {run}")
    cols = (
        "step",
        "stage",
        "version",
        "file",
        "kind",
        "rows",
        "column",
        "group",
        "count",
        "mean",
        "std",
        "min",
        "max",
        "validation",
    )
    for c in cols:
        table.add_column(c)
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    for r in report.rows:
        table.add_row(*(fmt(getattr(r, c)) for c in cols))
    console.print(table)
    if report.extremes:
        ex = Table(title="best / worst samples")
        for c in ("step", "stage", "group", "which", "id", "column", "value"):
            ex.add_column(c)
        for e in report.extremes:
            ex.add_row(*(fmt(e[c]) for c in ("step", "stage", "group", "which", "id", "column", "value")))
        console.print(ex)
    _print_details(report.details)
    from plotline.cli.audit_chain import print_lineage

    print_lineage(RunStore(run), step)
    if csv_path:
        with open(csv_path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["section", *cols, "which", "id"])
            for r in report.rows:
                writer.writerow(["stats", *(fmt(getattr(r, c)) for c in cols), "", ""])
            for e in report.extremes:
                writer.writerow(
                    [
                        "sample",
                        e["step"],
                        e["stage"],
                        "",
                        "",
                        "",
                        "",
                        e["column"],
                        e["group"],
                        "",
                        fmt(e["value"]),
                        "",
                        "",
                        "",
                        "",
                        e["which"],
                        e["id"],
                    ]
                )
        console.print(f"wrote {csv_path}")


def _print_details(details: dict[str, list[dict]]) -> None:
    """Kind-specific detail tables of an audit (e.g. a reflection trail's videos and decisions)."""
    for title, rows in details.items():
        if not rows:
            continue
        table = Table(title=title)
        for c in rows[0]:
            table.add_column(c)
        for r in rows:
            table.add_row(*("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()))
        console.print(table)


@app.command("gc")
def gc_cmd(
    run: str = typer.Option(..., "--run", help="Run URI."),
    delete: bool = typer.Option(False, "--delete", help="Delete (default: only list)."),
) -> None:
    """List (or delete) attempt folders that no committed manifest references and whose writer's lease expired:
    output of killed or losing writers. Attempts of live writers (lease still renewed) are listed and spared."""
    from plotline.store import RunStore

    try:
        store = RunStore(run)
        garbage = store.expired_garbage()
        live = store.live_attempts()
        for rel in garbage:
            console.print(store.fs.url(rel), highlight=False)
            if delete:
                store.remove_attempt(rel)
    except Exception as exc:  # noqa: BLE001 - a bad run URI or an invalid manifest is reported, not dumped
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    for rel, left in live:
        console.print(f"spared (live writer, lease {left:.0f} s left): {store.fs.url(rel)}", highlight=False)
    console.print(f"{len(garbage)} uncommitted attempt folder(s){' deleted' if delete else ''}")


def _quiet_console_logs() -> None:
    """Prefect's console handlers at WARNING (the API handler, hence the UI, still gets INFO), and library
    warnings (transformers) at ERROR: the CLI's own progress lines stay readable. `-v` skips this."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ["", *list(logging.Logger.manager.loggerDict)]:
        lg = logging.getLogger(name)
        for h in getattr(lg, "handlers", []):
            if isinstance(h, PrefectConsoleHandler):
                h.setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    _quiet_library_bars()


def _prefect_env() -> None:
    """Defaults for an embedded (ephemeral) Prefect API: no telemetry, a generous start-up timeout."""
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@app.command("train")
def train_cmd(
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
    run: str | None = typer.Option(None, "--run", help="Run URI (default: {storage.root}/{run_name})."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="RL steps to run (default: config `steps`)."),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Show Prefect's INFO logs and library warnings on "
        "the console (default: WARNING and above only; the Prefect UI keeps every log).",
    ),
) -> None:
    """The main job: run (or resume) the train flow. Default config: configs/shapes.yaml (the shapes world).

    Prints a line per finished stage while the flow runs, then a closing summary: the stage table, the per-step
    reward means (also written to the run folder as reward_curves.csv and reward_curves.png), and where the
    results and the Prefect runs are."""
    import logging
    import re
    import time

    _prefect_env()
    try:
        cfg = _config(config, set_)
    except ConfigError as exc:
        _fail(str(exc))
    run_uri = run or f"{cfg.storage.root.rstrip('/')}/{cfg.run_name}"
    from flows.audit_tables import step_metrics
    from flows.train import stage_sequence, train_flow
    from plotline.store import RunStore
    from plotline.world.curves import curve_rows, curves_csv, plot_curves

    total_steps = steps or cfg.steps
    total = len(stage_sequence(cfg, total_steps))
    console.print(
        f"plotline train: run {run_uri}, {total_steps} step(s), {total} stage runs, mode {cfg.orchestration.mode}",
        highlight=False,
    )
    started = time.perf_counter()
    done: list[tuple[str | Any, ...] | None] = []
    durations: dict[tuple[str, int], float] = {}
    last_t = [started]
    finished = re.compile(r"^(\S+) step (\d+): (committed|skipped|already committed)")
    resumed = re.compile(r"^resuming .*: (\d+) stage run\(s\) already committed")
    shown = ("instruction source:", "waiting for a slot", "released the slot")

    class StageProgress(logging.Handler):
        """Stage-level progress: one line per finished stage run, from the flow's own log records."""

        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if (m := resumed.match(text)) is not None:
                done.extend([None] * int(m.group(1)))
                console.print(
                    f"[{len(done)}/{total}] resumed: {m.group(1)} stage run(s) already committed", highlight=False
                )
            elif (m := finished.match(text)) is not None:
                done.append(m.groups())
                now = time.perf_counter()
                durations[(m.group(1), int(m.group(2)))] = now - last_t[0]
                last_t[0] = now
                console.print(
                    f"[{len(done)}/{total}] {m.group(1)}@{m.group(2)} {m.group(3)} "
                    f"in {durations[(m.group(1), int(m.group(2)))]:.1f}s ({now - started:.0f}s elapsed)",
                    highlight=False,
                )
            elif text.startswith(shown):
                console.print(text, highlight=False, soft_wrap=True)

    handler = StageProgress(level=logging.INFO)
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    for lg in loggers:
        lg.addHandler(handler)
    from flows.embedded import embedded_api
    from flows.signals import StopRequest, exit_code

    StopRequest.forget()
    if not verbose:
        _quiet_console_logs()
    from plotline.cli.progress_view import progress_display

    try:
        with embedded_api(), progress_display(console):  # no PREFECT_API_URL: a private API dying with us
            state = train_flow(config=cfg.model_dump(mode="json"), run_uri=run_uri, steps=steps, return_state=True)
            records = state.result()
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    if StopRequest.last_signal is not None:
        last = f"{records[-1]['stage']}@{records[-1]['step']}" if records else "none"
        err.print(
            f"plotline train: stopped by {StopRequest.last_signal} after stage {last} ({len(records)}/{total} "
            f"stage runs committed); rerun the same command to resume",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(exit_code(StopRequest.last_signal))
    table = Table(title=f"run {run_uri}")
    for c in ("step", "stage", "status", "version", "duration", "summary"):
        table.add_column(c)
    for r in records:
        summ = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in r["summary"].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        took = durations.get((r["stage"], r["step"]))
        table.add_row(
            str(r["step"]), r["stage"], r["status"], str(r["version"]), "" if took is None else f"{took:.1f}s", summ
        )
    console.print(table)
    console.print(f"total: {time.perf_counter() - started:.1f}s", highlight=False)

    store = RunStore(run_uri, cfg.storage)
    rl_steps = sorted({r["step"] for r in records if r["stage"] in cfg.orchestration.step_stages})
    metrics = {s: step_metrics(store, s) for s in rl_steps}
    labels, rows = curve_rows(metrics)
    curves = Table(title="reward curves: mean per RL step")
    for c in ("step", *labels):
        curves.add_column(c, justify="right")
    for row in rows:
        curves.add_row(str(int(row[0])), *("" if v is None else f"{v:.3f}" for v in row[1:]))
    console.print(curves)
    outputs = {
        "reward_curves.png": plot_curves(metrics, f"reward curves of run {store.run_id}"),
        "reward_curves.csv": curves_csv(metrics).encode(),
    }
    for name, data in outputs.items():
        store.fs.write_bytes(f"{store.run_id}/{name}", data)
    evaluated = [
        r
        for r in records
        if r["stage"] in cfg.orchestration.final_stages and r["stage"] == cfg.orchestration.evaluate_stage
    ]
    report = _print_evaluation(store, evaluated[-1]) if evaluated else None
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    flow_run = state.state_details.flow_run_id
    api = PREFECT_API_URL.value()
    where_prefect = (
        f"{api.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run}"
        if api
        else f"the embedded API's database {PREFECT_HOME.value()}/prefect.db (browse it with `plotline ui`, "
        f"then http://127.0.0.1:4200/runs/flow-run/{flow_run})"
    )
    console.print(
        f"results:       {run_uri}  (stage outputs; `plotline audit --run {run_uri}`)", highlight=False, soft_wrap=True
    )
    console.print(
        f"reward curves: {store.fs.url(store.run_id + '/reward_curves.png')} (+ reward_curves.csv)",
        highlight=False,
        soft_wrap=True,
    )
    if report is not None:
        console.print(
            f"evaluation:    {report.uri}/{report.manifest.file('report.md').path} (+ report.html, plots/)",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"Prefect runs:  flow run {flow_run} in {where_prefect}", highlight=False, soft_wrap=True)


def _print_evaluation(store, record: dict):
    """Print the paired comparison of the run's final evaluate stage (report.json's `paired` table) as a console
    table; returns its artifact (None when it has no report)."""
    art = store.latest(record["stage"], record["step"])
    if art is None or "report.json" not in art.files:
        return None
    paired = json.loads(art.read_bytes("report.json")).get("paired", [])
    table = Table(
        title=f"held-out evaluation at step {record['step']}: each condition vs the baseline (same prompts, same noise)"
    )
    for c in ("condition", "subset", "judge", "pairs", "mean Δ", "95% CI", "wins/ties/losses"):
        table.add_column(c)
    headline = art.manifest.summary.get("headline", {})
    for r in paired:
        base = headline.get(f"{art.manifest.summary.get('baseline')}/{r['subset']}/{r['judge']}")
        mine = headline.get(f"{r['condition']}/{r['subset']}/{r['judge']}")
        delta = f"{r['mean_delta']:+.3f}" + (
            f" ({base:.3f} → {mine:.3f})" if base is not None and mine is not None else ""
        )
        table.add_row(
            r["condition"],
            r["subset"],
            r["judge"],
            str(r["pairs"]),
            delta,
            f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
            f"{r['wins']}/{r['ties']}/{r['losses']}",
        )
    console.print(table)
    return art


@app.callback()
def _load_plugin_stages() -> None:
    # Plugin stages named in PLOTLINE_STAGE_MODULES (comma-separated modules) register before any command runs,
    # so `plotline stage` child processes started by the flows see the same stages as their parent.
    import os

    modules = [m.strip() for m in os.environ.get("PLOTLINE_STAGE_MODULES", "").split(",") if m.strip()]
    if modules:
        import stages  # noqa: F401

        for module in modules:
            importlib.import_module(module)


@app.command("ui")
def ui_cmd(
    port: int = typer.Option(4200, "--port", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to bind (127.0.0.1, ::1 or localhost)."),
    home: Path | None = typer.Option(
        None, "--home", help="PREFECT_HOME for this server (its database); default: Prefect's."
    ),
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds to wait for the server to become healthy."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Local store root to serve read-only over loopback HTTP "
        "for artifact links (default: storage.root of the config; s3:// roots are "
        "linked with presigned URLs instead).",
    ),
    files_port: int = typer.Option(
        0, "--files-port", min=0, max=65535, help="Port of the store file server (0: any free)."
    ),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
) -> None:
    """Start a local Prefect server (API + UI) on loopback, and a read-only file server over the local store root
    (artifact links point at it); print the URLs and serve until Ctrl-C."""
    import signal

    _prefect_env()
    from flows.file_server import FileServer
    from flows.server import ServerError, start_server, stop_group

    try:
        root = store or _config(config, set_).storage.root
    except ConfigError as exc:
        _fail(str(exc))
    files = None
    if "://" not in root:
        Path(root).mkdir(parents=True, exist_ok=True)
        try:
            files = FileServer(Path(root).resolve(), host, files_port).start()
        except (OSError, ValueError) as exc:
            _fail(f"could not serve the store root {root}: {exc}", code=1)
    try:
        proc, url = start_server(host, port, home, timeout)
    except ServerError as exc:
        if files:
            files.stop()
        _fail(str(exc), code=1)
    console.print(f"Prefect UI: {url}", highlight=False)
    console.print(
        f"API:        {url}/api  (export PREFECT_API_URL={url}/api to run flows, deploy and workers against it)",
        highlight=False,
        soft_wrap=True,
    )
    if files:
        console.print(f"Files:      {files.url}/  (read-only: {files.root})", highlight=False, soft_wrap=True)
    sys.stdout.flush()

    def _stop(signum, frame):  # the signal-handler signature
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        console.print("stopping the Prefect server ...", highlight=False)
        stop_group(proc)
        return
    finally:
        if files:
            files.stop()
    _fail(f"the Prefect server exited with {code}", code=1)


@app.command("deploy")
def deploy_cmd(
    file: Path = typer.Option(None, "--file", "-f", help="Prefect project file (default: infra/prefect.yaml)."),
    pool: str | None = typer.Option(
        None, "--pool", help="Put every deployment on this work pool (created as a process pool if missing)."
    ),
    gpu_pool: str | None = typer.Option(
        None, "--gpu-pool", help="Put the GPU deployments on this pool (e.g. plotline-gpu-k8s)."
    ),
    name: list[str] | None = typer.Option(
        None, "--name", "-n", help="Only these deployments (flow/deployment or flow name; repeatable)."
    ),
    store_credentials: bool = typer.Option(
        False,
        "--store-credentials",
        help="Save PLOTLINE_S3_ENDPOINT_URL and AWS_* from this environment as a Prefect variable / Secret blocks for the job templates.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be registered; change nothing."),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
    storage_root: str | None = typer.Option(
        None,
        "--storage-root",
        help="With --pool: the storage root the train/evaluate/synthesize deployments default to "
        "(default ./runs, made absolute here; an s3:// root is kept). They also default to inline mode.",
    ),
) -> None:
    """Register work pools, the GPU concurrency limit and one deployment per built stage from infra/prefect.yaml.
    With --pool everything goes on that one pool: the parent flows then default to inline mode and an absolute
    storage root, and process pools run them in this working directory."""
    _prefect_env()
    from flows.deploy import apply_plan, plan_deployments
    from flows.deploy import store_credentials as save_credentials

    try:
        cfg = _config(config, set_)
        plan = plan_deployments(cfg, file, pool=pool, gpu_pool=gpu_pool, names=name, storage_root=storage_root)
    except ConfigError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    if dry_run:
        rows = [
            {"what": "work pool", "name": p["name"], "status": "would ensure", "detail": p.get("type", "")}
            for p in plan.pools
        ]
        rows += [
            {"what": "deployment", "name": d.full_name, "status": "would register", "detail": f"pool {d.work_pool}"}
            for d in plan.deployments
        ]
        rows += [{"what": "deployment", "name": n, "status": "skipped", "detail": r} for n, r in plan.skipped]
    else:
        try:
            rows = apply_plan(plan, cfg)
            if store_credentials:
                rows += [{"what": "credential", "name": s, "status": "saved", "detail": ""} for s in save_credentials()]
        except Exception as exc:  # noqa: BLE001
            _fail(
                f"{type(exc).__name__}: {exc} (is PREFECT_API_URL pointing at a running server? `plotline ui` starts one)",
                code=1,
            )
    table = Table(title="plotline deploy")
    for col in ("what", "name", "status", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["what"], row["name"], row["status"], row["detail"])
    console.print(table)


data_app = typer.Typer(no_args_is_help=True, help="Instruction data.")
app.add_typer(data_app, name="data")


@data_app.command("import")
def data_import(
    path: Path = typer.Argument(
        ..., help="CSV, Parquet or JSONL with a `prompt` column (optional id, category, steps)."
    ),
    run: str = typer.Option(..., "--run", help="Run URI to import into (as its instructions artifact)."),
    split: str = typer.Option("train", "--split", help="Split label for the rows: train or eval."),
    force: bool = typer.Option(False, "--force", help="Write a new version even if this file is already imported."),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
) -> None:
    """Import a prompt list as the run's instructions artifact; unusable rows are reported with line numbers."""
    from plotline.data.pin import pin_instructions
    from plotline.store import RunStore
    from stages.base import run_stage

    try:
        cfg = _config(config, [*(set_ or []), "data.source=file", f"data.path={path}", f"data.split={split}"])
        outcome = run_stage("instructions", cfg, run, 0, force=force)
        pin_instructions(RunStore(run, cfg.storage), outcome.artifact, str(path))
    except ConfigError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    console.print(
        f"{outcome.message}; {outcome.manifest.summary.get('rows')} instruction(s)", highlight=False, soft_wrap=True
    )
    console.print(
        f"pinned {outcome.artifact.uri} as the instruction source of run {run}: `plotline train --run "
        f"{run}` uses it (not data.source)",
        highlight=False,
        soft_wrap=True,
    )


config_app = typer.Typer(no_args_is_help=True, help="Inspect configuration.")
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(config: list[str] | None = CONFIG_OPT, set_: list[str] | None = SET_OPT) -> None:
    """Print the resolved configuration as YAML, with its hash."""
    try:
        cfg = _config(config, set_)
    except ConfigError as exc:
        _fail(str(exc))
    sys.stdout.write(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    sys.stdout.write(f"# config hash: {config_hash(cfg)}\n")


@app.command("memory")
def memory_cmd(
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
    gpu_memory: float = typer.Option(141.0, "--gpu-memory", min=1.0, help="GPU memory in GB (1e9 bytes) to fit."),
    stage: list[str] | None = typer.Option(
        None,
        "--stage",
        help="Estimate only this stage (repeatable): plan, rollout, vae_decode, update_executor, update_planner.",
    ),
    switch_frame: list[int] | None = typer.Option(
        None, "--switch-frame", "-k", help="Switch frame k (repeatable; default: video.switch_frames)."
    ),
    prompt_tokens: int = typer.Option(512, "--prompt-tokens", min=1, help="Planner chat-prompt length assumed."),
    json_out: str | None = typer.Option(None, "--json", help="Also write the estimates to this JSON file."),
) -> None:
    """Estimate each heavy stage's peak GPU memory for a preset (models built on the meta device, no weights
    read) and say whether it fits --gpu-memory. Exits 1 when a stage does not fit."""
    from plotline.memory.estimate import estimate_all

    try:
        cfg = _config(config, set_)
        estimates = estimate_all(cfg, switch_frame or None, prompt_tokens, stage or None)
    except (ConfigError, KeyError) as exc:
        _fail(str(exc).strip("'\""))
    cap = gpu_memory * 1e9
    table = Table(
        title=f"estimated peak GPU memory, {cfg.executor.backbone} executor ({cfg.executor.dtype}), "
        f"N={cfg.executor.num_continuations}, GPU {gpu_memory:g} GB"
    )
    for col in ("stage", "peak GB", f"fits {gpu_memory:g} GB", "largest parts (GB)"):
        table.add_column(col)
    rows: list[dict[str, Any]] = []
    for e in estimates:
        parts = sorted(e.parts.items(), key=lambda kv: -kv[1])[:3]
        table.add_row(
            e.stage,
            f"{e.total / 1e9:.1f}",
            "yes" if e.fits(cap) else "NO",
            "; ".join(f"{k} {v / 1e9:.1f}" for k, v in parts),
        )
        rows.append({"stage": e.stage, "peak_bytes": e.total, "fits": e.fits(cap), "parts": e.parts, "notes": e.notes})
    console.print(table)
    for e in estimates:
        for key, value in e.notes.items():
            shown = ("on" if value else "off") if key == "gradient checkpointing" else f"{value / 1e9:.1f} GB"
            console.print(f"  {e.stage}: {key} {shown}", highlight=False)
    if json_out:
        Path(json_out).write_text(json.dumps({"gpu_memory_gb": gpu_memory, "stages": rows}, indent=1))
    bad = [r["stage"] for r in rows if not r["fits"]]
    if bad:
        _fail(f"does not fit {gpu_memory:g} GB: {', '.join(bad)}", code=1)


from plotline.cli import eval as eval_cli  # noqa: E402 - sub-apps mount after the root's own commands
from plotline.cli import generate as generate_cli  # noqa: E402
from plotline.cli import rewards as rewards_cli  # noqa: E402
from plotline.cli import synth as synth_cli  # noqa: E402

app.add_typer(rewards_cli.app, name="rewards", help="Judge replies: re-parse and re-score stored raw replies.")
app.add_typer(eval_cli.app, name="eval", help="Temporal Order benchmark: runs, reports, human agreement.")
app.add_typer(synth_cli.app, name="synth", help="Synthesise ordered-event instructions with an LLM; vet prompt lists.")
app.command("generate")(generate_cli.generate_cmd)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
