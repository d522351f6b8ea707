"""`plotline synth …`: LLM-backed instruction synthesis and prompt-list vetting.

Mounted as `plotline synth` by plotline.cli.main.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.table import Table

from plotline.cli.common import fail as _fail
from plotline.console import console

app = typer.Typer(no_args_is_help=True, help="Synthesise ordered-event instructions with an LLM; vet prompt lists.")


@app.callback()
def _group() -> None:
    """Synthesise ordered-event instructions with an LLM; vet prompt lists."""


@app.command("run")
def run_cmd(
    run: str = typer.Option(..., "--run", help="Run URI the instructions artifact is written into (step 0)."),
    num: int | None = typer.Option(None, "--num", min=1, help="Instructions to accept (synth.num_instructions)."),
    backend: str | None = typer.Option(
        None, "--backend", help="openai | local | programmatic | templates (synth.backend)."
    ),
    model: str | None = typer.Option(None, "--model", help="Served model name or local model folder (synth.model)."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint incl. /v1 (synth.openai.base_url)."
    ),
    force: bool = typer.Option(False, "--force", help="Write a new version even if this spec is committed."),
    config: list[str] | None = typer.Option(
        None, "--config", "-c", help="YAML preset(s) (default: configs/shapes.yaml if present)."
    ),
    set_: list[str] | None = typer.Option(None, "--set", "-s", help="Override a key, e.g. --set synth.per_request=10."),
) -> None:
    """Synthesise instructions (resumable: rerun the same command after an interruption)."""
    from plotline.cli.eval import load_cli_config
    from plotline.config import ConfigError
    from stages.base import run_stage

    extra = [
        f"synth.{k}={v}"
        for k, v in (("num_instructions", num), ("backend", backend), ("model", model), ("openai.base_url", base_url))
        if v is not None
    ]
    try:
        cfg = load_cli_config(config, [*(set_ or []), *extra])
        outcome = run_stage("synthesize", cfg, run, 0, force=force)
    except ConfigError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - every stage failure is reported, not dumped
        _fail(f"{type(exc).__name__}: {exc}", code=1)
    s = outcome.manifest.summary
    console.print(outcome.message, highlight=False, soft_wrap=True)
    console.print(
        f"{s.get('accepted')} instruction(s) {s.get('splits')}; {s.get('requests')} request(s) "
        f"({s.get('requests_replayed')} replayed from the journal); candidates {s.get('status_counts')}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("check")
def check_cmd(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Prompt list (CSV/JSONL/Parquet, `prompt` column, optional `steps`)."
    ),
    near: float = typer.Option(0.6, "--near", min=0.01, max=1.0, help="Near-duplicate Jaccard threshold."),
    require_steps: bool = typer.Option(
        False, "--require-steps/--no-require-steps", help="Reject prompts without listed steps."
    ),
    min_words: int = typer.Option(5, "--min-words", min=1, help="Fewest words per prompt."),
    max_words: int = typer.Option(200, "--max-words", min=1, help="Most words per prompt."),
    show: int = typer.Option(10, "--show", min=0, help="Rejected rows to list."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any row is rejected."),
) -> None:
    """Vet an existing prompt list with the synthesis checks: length, steps, order, exact/near duplicates."""
    from plotline.data.importer import ImportRejected, import_instructions
    from plotline.data.synth import check_prompt_list, reason_class
    from plotline.data.synth_config import SynthConfig

    try:
        rows = import_instructions(path)
    except ImportRejected as exc:
        _fail(str(exc), code=1)
    cfg = SynthConfig.model_validate(
        {
            "diversity": {"near_duplicate_jaccard": near},
            "max_steps": 8,
            "validation": {"require_steps": require_steps, "min_words": min_words, "max_words": max_words},
        }
    )
    results = check_prompt_list(
        [{"id": r["instruction_id"], "prompt": r["prompt"], "steps": r["steps"]} for r in rows], cfg
    )
    bad = [r for r in results if r["status"] == "rejected"]
    reasons = Counter(reason_class(part) for r in bad for part in r["reason"].split("; "))
    console.print(
        f"{path}: {len(results)} prompt(s), {len(results) - len(bad)} accepted, {len(bad)} rejected", highlight=False
    )
    if reasons:
        table = Table(title="rejections")
        table.add_column("reason")
        table.add_column("count")
        for reason, n in reasons.most_common():
            table.add_row(reason, str(n))
        console.print(table)
    for r in bad[:show]:
        console.print(f"  {r['id']}: {r['reason']}", highlight=False, soft_wrap=True)
    if strict and bad:
        raise typer.Exit(1)
