"""`plotline eval …`: run the Temporal Order benchmark, render and compare reports, and the human-agreement tools.

Mounted as `plotline eval` by plotline.cli.main.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from plotline.cli.common import fail as _fail
from plotline.cli.common import quiet_library_bars
from plotline.console import console

app = typer.Typer(no_args_is_help=True, help="Temporal Order benchmark: runs, reports, human agreement.")

CONFIG_OPT = typer.Option(
    None, "--config", "-c", help="YAML preset(s), merged in order (default: configs/shapes.yaml if present)."
)
SET_OPT = typer.Option(None, "--set", "-s", help="Override a key, e.g. --set eval.batch_size=8 (repeatable).")


@app.callback()
def _group() -> None:
    """Temporal Order benchmark: runs, reports, human agreement."""


def load_cli_config(paths: list[str] | None, overrides: list[str] | None):
    """The config from presets (default configs/shapes.yaml) and overrides."""
    from plotline.config import load_config

    if not paths:
        default = Path("configs/shapes.yaml")
        paths = [str(default)] if default.is_file() else []
    return load_config(paths, overrides or [])


def parse_condition(text: str):
    """`name=mode[+reflect][@checkpoint]` → EvalCondition (checkpoint defaults to base; it may itself contain `@`;
    `+reflect` generates with reflection under the `reflect` section)."""
    from plotline.eval.config import EvalCondition

    if "=" not in text:
        raise typer.BadParameter(f"--condition {text!r} must be name=mode[+reflect][@checkpoint]")
    name, rest = text.split("=", 1)
    mode, _, checkpoint = rest.partition("@")
    mode, plus, flag = mode.strip().partition("+")
    if plus and flag != "reflect":
        raise typer.BadParameter(f"--condition {text!r}: the only mode flag is +reflect")
    return EvalCondition(name=name.strip(), mode=mode, checkpoint=checkpoint.strip() or "base", reflect=bool(plus))


def parse_benchmark(text: str):
    """`name=path[:J]` → a file EvalSubset (J step prompts when given; L from --steps-frames)."""
    from plotline.eval.config import EvalSubset

    if "=" not in text:
        raise typer.BadParameter(f"--benchmark {text!r} must be name=path[:J]")
    name, rest = text.split("=", 1)
    path, _, steps = rest.rpartition(":") if rest.rsplit(":", 1)[-1].isdigit() else (rest, "", "")
    return EvalSubset(name=name.strip(), source="file", path=path, num_steps=int(steps) if steps else None)


def _comparison_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("subset", "judge", "condition", "mode", "checkpoint", "mean", "n", "unscored", "vs baseline"):
        table.add_column(col)
    for r in rows:
        rel = "" if r["relative_change"] is None else f"{r['relative_change'] * 100:+.1f}%"
        table.add_row(
            r["subset"],
            r["judge"],
            r["condition"],
            r["mode"],
            r["checkpoint"],
            "–" if r["mean"] is None else f"{r['mean']:.4f}",
            str(r["n"]),
            str(r["unscored"]),
            rel,
        )
    return table


@app.command("run")
def run_cmd(
    run: str = typer.Option(
        ..., "--run", help="Run URI the evaluation is written into (and `current`/`step=N` refer to)."
    ),
    step: int | None = typer.Option(
        None, "--step", min=0, help="Step to write at (default: newest step with an update output, else 0)."
    ),
    condition: list[str] | None = typer.Option(
        None,
        "--condition",
        help="name=mode[+reflect][@checkpoint], e.g. trained=planner_smooth@latest or closed=planner_smooth+reflect@base (repeatable; replaces eval.conditions).",
    ),
    benchmark: list[str] | None = typer.Option(
        None,
        "--benchmark",
        help="name=path[:J]: a prompt list (prompt, category[, steps]) as a subset (repeatable; replaces eval.subsets).",
    ),
    simple: Path | None = typer.Option(
        None, "--simple", help="Paper protocol: the Simple prompt list (3 step prompts, L=12)."
    ),
    hard: Path | None = typer.Option(
        None, "--hard", help="Paper protocol: the Hard prompt list (5 step prompts, L=12)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate only the first N prompts of every subset."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Condition relative changes are measured against (default: the first)."
    ),
    force: bool = typer.Option(False, "--force", help="Write a new version even if this evaluation is committed."),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
) -> None:
    """Generate one video per benchmark prompt for every condition, judge them, and commit results + report."""
    from plotline.config import ConfigError
    from plotline.config import with_sections as extend
    from plotline.eval.config import PAPER_STEP_FRAMES, EvalSubset, eval_section
    from plotline.store import RunStore
    from stages.base import run_stage
    from stages.pins import latest_update_step, pin_reference

    try:
        cfg = load_cli_config(config, set_)
        ecfg = eval_section(cfg)
        update: dict = {}
        if condition:
            update["conditions"] = [parse_condition(c) for c in condition]
        subsets = [parse_benchmark(b) for b in benchmark or []]
        for name, path, j in (("simple", simple, 3), ("hard", hard, 5)):
            if path is not None:
                subsets.append(
                    EvalSubset(
                        name=name, source="file", path=str(path), num_steps=j, latent_frames_per_step=PAPER_STEP_FRAMES
                    )
                )
        if subsets:
            update["subsets"] = subsets
        if limit:
            update["subsets"] = [
                s.model_copy(update={"limit": limit}) for s in update.get("subsets", ecfg.subsets)
            ] or [EvalSubset(name="eval", limit=limit)]
        if baseline:
            update["baseline"] = baseline
        ecfg = type(ecfg).model_validate(
            {
                **ecfg.model_dump(mode="json"),
                **{
                    k: [v.model_dump(mode="json") for v in vs] if isinstance(vs, list) else vs
                    for k, vs in update.items()
                },
            }
        )
        store = RunStore(run, cfg.storage)
        at = step if step is not None else (latest_update_step(store) or 0)
        ecfg = ecfg.model_copy(
            update={"conditions": [pin_reference(c, store, at, cfg.storage) for c in ecfg.conditions]}
        )
        cfg = extend(cfg, eval=ecfg)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    console.print(
        f"plotline eval: run {run}, step {at}, conditions "
        f"{', '.join(f'{c.name} ({c.mode} @ {c.checkpoint})' for c in ecfg.conditions)}",
        highlight=False,
        soft_wrap=True,
    )
    try:
        outcome = run_stage("evaluate", cfg, run, at, force=force)
    except Exception as exc:  # noqa: BLE001 - every stage failure is reported, not dumped
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    from plotline.eval.report import report_for_artifact

    report = report_for_artifact(outcome.artifact)
    console.print(_comparison_table(report.rows, f"Temporal Order benchmark ({outcome.status})"))
    console.print(outcome.message, highlight=False, soft_wrap=True)
    console.print(
        f"report: {outcome.artifact.uri}/{outcome.artifact.manifest.file('report.html').path}",
        highlight=False,
        soft_wrap=True,
    )


def _write_report(report, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report.markdown)
    (out / "report.html").write_text(report.html)
    (out / "report.json").write_text(json.dumps(report.tables, indent=1, default=str))
    for name, png in report.plots.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(png)


def _ablation_report(art, out: Path | None) -> None:
    from plotline.eval.ablation_report import report_for_ablation

    report = report_for_ablation(art)
    if out is None:
        typer.echo(report.markdown)
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report.markdown)
    (out / "report.html").write_text(report.html)
    for name, png in report.plots.items():
        (out / name).write_bytes(png)
    console.print(_ablation_table(report.summary, art.manifest.summary.get("baseline", "bootstrap")))
    console.print(f"wrote {out / 'report.html'}", highlight=False)


_ARTIFACT_REPORTS = {"ablation": _ablation_report}
"""Stages whose committed artifacts `eval report` renders with their own renderer (not an evaluate report)."""


def _render_other(arts: list, out: Path | None) -> None:
    if len(arts) != 1:
        raise ValueError(f"{arts[0].manifest.stage} artifacts are rendered one at a time (got {len(arts)} URIs)")
    _ARTIFACT_REPORTS[arts[0].manifest.stage](arts[0], out)


@app.command("report")
def report_cmd(
    uri: list[str] = typer.Argument(..., help="Committed evaluate version folder(s); several are combined."),
    out: Path | None = typer.Option(
        None, "--out", help="Write report.md/.html/.json and plots here (else print Markdown)."
    ),
    baseline: str | None = typer.Option(None, "--baseline", help="Baseline condition."),
    tie_band: float = typer.Option(0.03, "--tie-band", min=0, help="Paired wins/ties/losses tie band."),
) -> None:
    """Render the report of one evaluate artifact, or a comparison of several (e.g. across runs)."""
    from plotline.eval.checkpoints import open_artifact
    from plotline.eval.report import build_report, combine_artifacts, report_for_artifact

    try:
        arts = [open_artifact(u) for u in uri]
        if any(a.manifest.stage in _ARTIFACT_REPORTS for a in arts):
            _render_other(arts, out)
            return
        if len(arts) == 1:
            report = report_for_artifact(arts[0], baseline, tie_band, plots=out is not None)
        else:
            results, videos, throughput = combine_artifacts(arts)
            report = build_report(results, videos, throughput, baseline, tie_band=tie_band, plots=out is not None)
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    if out is None:
        typer.echo(report.markdown)
        return
    _write_report(report, out)
    console.print(_comparison_table(report.rows, "Temporal Order benchmark"))
    console.print(f"wrote {out / 'report.html'}", highlight=False)


@app.command("pairs")
def pairs_cmd(
    uri: str = typer.Argument(..., help="Committed evaluate version folder."),
    a: str = typer.Option(..., "--a", help="First condition."),
    b: str = typer.Option(..., "--b", help="Second condition."),
    out: Path = typer.Option(..., "--out", help="Annotator folder (videos, pairs.csv, index.html)."),
    key: Path = typer.Option(
        ..., "--key", help="Where the key (which side is which condition) is written; keep it away from annotators."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N pairs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pair order and of left/right."),
) -> None:
    """Export side-by-side A/B pairs for annotators (left/right randomised; the key is written separately)."""
    from plotline.eval.checkpoints import open_artifact
    from plotline.eval.human import export_pairs
    from plotline.eval.report import read_tables

    try:
        art = open_artifact(uri)
        _, videos, _ = read_tables(art)
        if videos is None:
            raise ValueError(f"{art.uri} has no eval_videos table")
        rows = export_pairs(videos, a, b, out, key, art.read_bytes, seed=seed, limit=limit, source=art.uri)
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    console.print(f"wrote {len(rows)} pair(s) to {out} (sheet {out / 'pairs.csv'}); key: {key}", highlight=False)


@app.command("agreement")
def agreement_cmd(
    uri: str = typer.Argument(..., help="Committed evaluate version folder the pairs came from."),
    key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="Key written by `plotline eval pairs`."),
    choices: Path = typer.Option(
        ...,
        "--choices",
        exists=True,
        dir_okay=False,
        help="Annotators' pairs.csv (or JSONL) with pair_id, choice[, annotator].",
    ),
    tie_band: float = typer.Option(
        0.03, "--tie-band", min=0, help="Judge score differences within ± this are ties (paper: 0.03)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the agreement rows as JSON."),
) -> None:
    """Import annotator choices and compute judge–human agreement for every judge."""
    from plotline.eval.checkpoints import open_artifact
    from plotline.eval.human import agreement, read_choices, read_key
    from plotline.eval.report import read_tables

    try:
        key_rows = read_key(key)
        picked = read_choices(choices, key_rows)
        results, _, _ = read_tables(open_artifact(uri))
        rows = agreement(results, key_rows, picked, tie_band)
    except Exception as exc:  # noqa: BLE001
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    table = Table(title=f"judge–human agreement (tie band ±{tie_band:g}, {len(picked)} choice(s))")
    for col in ("judge", "pairs", "agreement", "decisive pairs", "decisive agreement", "kappa", "unscored"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.judge,
            str(r.pairs),
            f"{r.agreement:.3f}",
            str(r.decisive_pairs),
            "–" if r.decisive_agreement is None else f"{r.decisive_agreement:.3f}",
            "–" if r.kappa is None else f"{r.kappa:.3f}",
            str(r.unscored),
        )
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps([r.row() for r in rows], indent=1))


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` → [0, 1, 2] (also `0-4` for a range)."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        try:
            seeds += list(range(int(lo), int(hi) + 1)) if dash and lo else [int(part)]
        except ValueError:
            raise typer.BadParameter(f"--seeds {text!r}: {part!r} is not a seed (use e.g. 0,1,2 or 0-4)") from None
    return seeds


def _ablation_table(summary: list[dict], baseline: str) -> Table:
    from plotline.eval.ablation_report import SUMMARY_HEADER, summary_cells

    table = Table(title="Method ablation")
    for col in SUMMARY_HEADER:
        table.add_column(col)
    for row in summary:
        table.add_row(*summary_cells(row, baseline))
    return table


@app.command("ablation")
def ablation_cmd(
    seeds: str = typer.Option("0,1,2", "--seeds", help="Seeds, e.g. 0,1,2 or 0-4 (one bootstrap + runs per seed)."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="RL steps per training variant (default: `steps`)."),
    root: str | None = typer.Option(None, "--root", help="Store root of the ablation's runs (default: storage.root)."),
    ablation: Path | None = typer.Option(
        None, "--ablation", exists=True, dir_okay=False, help="YAML of the variants and conditions (default: built in)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write report.md/.html and ablation.png here."),
    config: list[str] | None = CONFIG_OPT,
    set_: list[str] | None = SET_OPT,
) -> None:
    """TempAct's ablation: per seed one bootstrap, a training run per variant from it, and one evaluation of every
    condition on the same held-out prompts and noise; commits an `ablation` artifact (rerunning resumes)."""
    from plotline.cli.progress_view import progress_display
    from plotline.config import ConfigError, load_config, load_yaml
    from plotline.eval.ablation import StageEvent, planned_calls, run_ablation
    from plotline.eval.ablation_config import AblationConfig
    from plotline.progress import reporter
    from stages.base import run_stage

    try:
        seed_list = parse_seeds(seeds)
        presets = [str(p) for p in (config or [])] or (
            ["configs/shapes.yaml"] if Path("configs/shapes.yaml").is_file() else []
        )
        overrides = list(set_ or [])
        first = load_config(presets, [*overrides, f"seed={seed_list[0] if seed_list else 0}"])
        root = root or first.storage.root
        n_steps = steps if steps is not None else first.steps
        acfg = AblationConfig.model_validate(load_yaml(ablation) if ablation else {})
        total = planned_calls(acfg, first, seed_list, n_steps)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    console.print(
        f"plotline eval ablation: seeds {seed_list}, {n_steps} RL step(s) per variant, "
        f"{len(acfg.conditions)} conditions, {total} stage calls, runs under {root}",
        highlight=False,
        soft_wrap=True,
    )
    quiet_library_bars()
    with progress_display(console):  # each stage's own tasks (SFT, rollout, GSPO, ...) as bars or plain lines
        overall = reporter("ablation stage calls")
        overall(0, total)
        done = 0

        def on_event(e: StageEvent) -> None:
            nonlocal done
            wall = "" if e.wall_s is None else f" ({e.wall_s:.1f} s)"
            console.print(
                f"seed {e.seed} {e.run} step {e.step} {e.stage}: {e.status}{wall if e.status == 'committed' else ''}",
                highlight=False,
                soft_wrap=True,
            )
            done += 1
            overall(done, total)

        try:
            outcome = run_ablation(acfg, presets, overrides, seed_list, n_steps, root, run_stage, on_event)
        except (ConfigError, ValueError) as exc:
            _fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - every stage failure is reported, not dumped
            _fail(f"{type(exc).__name__}: {exc}", code=1)
    console.print(_ablation_table(outcome.report.summary, acfg.baseline))
    started = len(outcome.started)
    console.print(
        f"{started} stage(s) computed, {len(outcome.events) - started} already committed; ablation artifact "
        f"{outcome.status}: {outcome.artifact.uri}",
        highlight=False,
        soft_wrap=True,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(outcome.report.markdown)
        (out / "report.html").write_text(outcome.report.html)
        for name, png in outcome.report.plots.items():
            (out / name).write_bytes(png)
        console.print(f"wrote {out / 'report.md'}", highlight=False, soft_wrap=True)
