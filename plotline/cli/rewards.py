"""`plotline rewards …`: audit and re-score stored judge replies without calling a model."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer

from plotline.rewards.parsing import parse_reply

app = typer.Typer(help="Judge replies: parse and re-score stored raw replies.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Judge replies: parse and re-score stored raw replies."""


class Kind(str, Enum):
    """Which judge schema a file of raw replies is parsed with."""

    plan = "plan"
    temporal = "temporal"
    step = "step"


def parse_line(kind: str, record: dict) -> dict:
    """One output record `{id, status, score, reason, fields}` for an input record `{id, raw, [n_frames]}`."""
    n_frames = record.get("n_frames")
    result = parse_reply(kind, record.get("raw"), n_frames=int(n_frames) if n_frames is not None else None)
    return {
        "id": record.get("id"),
        "status": result.status,
        "score": result.score,
        "reason": result.reason,
        "fields": result.fields,
    }


@app.command("parse")
def parse_cmd(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help='JSONL, one {"id": ..., "raw": "<reply>"} per line (extra keys allowed, e.g. "n_frames").',
    ),
    kind: Kind = typer.Option(..., "--kind", help="Judge schema the replies follow."),
) -> None:
    """Re-parse stored raw judge replies; print one JSON result per input line, in input order."""
    out = sys.stdout
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = file.read_bytes()[: exc.start].count(b"\n") + 1
        typer.echo(
            f"{file}:{bad_line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})", err=True
        )
        raise typer.Exit(2) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            result = parse_line(kind.value, record)
        except (ValueError, TypeError) as exc:  # bad JSON, or a field of the wrong type (e.g. n_frames: "x")
            typer.echo(f"{file}:{lineno}: invalid input line ({exc})", err=True)
            raise typer.Exit(2) from None
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
