"""`plotline generate`: render instructions with a run's policy, open loop or with reflection (`--reflect`), as
the run's `generate` stage; the audit trail is shown by `plotline audit --run <run> --stage generate`.

Mounted as the `plotline generate` command by plotline.cli.main."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from plotline.cli.common import fail as _fail
from plotline.console import console


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_table(rows: list[dict], title: str) -> Table:
    """Per-video lines of a trail (plotline.reflect.trail.video_summaries) as a rich table."""
    cols = (
        "video_id",
        "spans",
        "critic_calls",
        "regenerations",
        "replans",
        "chunk_generations",
        "base_chunks",
        "mean_chosen_score",
        "decisions",
        "budget_hit",
    )
    table = Table(title=title)
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*(_fmt(r[c]) for c in cols))
    return table


def generate_cmd(
    run: str = typer.Option(..., "--run", help="Run URI whose policy generates (and where the artifact is written)."),
    step: int | None = typer.Option(
        None,
        "--step",
        min=0,
        help="Step whose update adapters are used (default: newest step with an update output, else 0: the bootstrap policy).",
    ),
    prompt: list[str] | None = typer.Option(
        None,
        "--prompt",
        "-p",
        help="An instruction to generate (repeatable; default: the run's eval-split instructions).",
    ),
    split: str | None = typer.Option(
        None, "--split", help="Split of the run's instructions when no --prompt is given (train, eval, all)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Generate only the first N instructions."),
    reflect: bool = typer.Option(
        False,
        "--reflect/--open-loop",
        help="Close the loop: critic after every span, regeneration / replanning within the `reflect` budget.",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Noise and planner seed (default: generate.seed)."),
    force: bool = typer.Option(False, "--force", help="Write a new version even if this generation is committed."),
    config: list[str] | None = typer.Option(
        None, "--config", "-c", help="YAML preset(s), merged in order (default: configs/shapes.yaml if present)."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", "-s", help="Override a key, e.g. --set reflect.candidates=4 (repeatable)."
    ),
) -> None:
    """Generate videos for instructions, open loop or with reflection, and commit them with their audit trail."""
    from plotline.config import ConfigError, load_config
    from plotline.config import with_sections as extend
    from plotline.reflect.trail import video_summaries
    from plotline.store import RunStore
    from stages.base import run_stage
    from stages.pins import latest_update_step

    try:
        paths = config or ([str(Path("configs/shapes.yaml"))] if Path("configs/shapes.yaml").is_file() else [])
        cfg = load_config(paths, set_ or [])
        update: dict[str, Any] = {"reflect": reflect}
        for key, value in (("prompts", list(prompt or []) or None), ("split", split), ("limit", limit), ("seed", seed)):
            if value is not None:
                update[key] = value
        cfg = extend(cfg, generate={**cfg.generate.model_dump(mode="json"), **update})
        at = step if step is not None else (latest_update_step(RunStore(run, cfg.storage)) or 0)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    console.print(
        f"plotline generate: run {run}, step {at}, {'with reflection' if reflect else 'open loop'}", highlight=False
    )
    try:
        outcome = run_stage("generate", cfg, run, at, force=force)
    except Exception as exc:  # noqa: BLE001 - every stage failure is reported, not dumped
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    art = outcome.artifact
    rows = video_summaries(art.read_table("reflections.parquet").to_pylist())
    console.print(summary_table(rows, f"generate ({outcome.status})"))
    s = art.manifest.summary
    console.print(
        f"{s.get('videos')} video(s): {s.get('chunk_generations')} chunk generations, "
        f"{s.get('critic_calls')} critic calls, {s.get('regenerations')} regenerations, "
        f"{s.get('replans')} replans, {s.get('budget_hit_videos')} video(s) hit a budget limit",
        highlight=False,
        soft_wrap=True,
    )
    console.print(outcome.message, highlight=False, soft_wrap=True)
    console.print(f"trail: plotline audit --run {run} --step {at} --stage generate", highlight=False, soft_wrap=True)
