"""CLI output off a terminal: full width, no wrapping or `…` truncation; COLUMNS is respected; a real pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.table import Table

from plotline.console import PIPE_WIDTH, make_console

REPO = Path(__file__).resolve().parents[2]


def _render(monkeypatch, columns: str | None) -> str:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    console = make_console()
    table = Table("stage", "summary")
    long_name = "update_executor_with_a_rather_long_name"
    table.add_row(long_name, "x" * 300)
    console.print(table)
    console.print("word " * 100)
    return out.getvalue()


def test_off_a_terminal_nothing_is_wrapped_or_cut(monkeypatch):
    text = _render(monkeypatch, None)
    assert "update_executor_with_a_rather_long_name" in text and "x" * 300 in text and "…" not in text
    assert ("word " * 100).strip() in text  # one line, not wrapped at 80 columns
    assert make_console().width == PIPE_WIDTH


def test_columns_is_respected(monkeypatch):
    text = _render(monkeypatch, "60")
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "x" * 300 not in text  # the table had to fit 60 columns


def test_stage_list_through_a_real_pipe_shows_whole_names():
    from stages.base import registry

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "plotline.cli", "stage", "--list"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("│")[1].strip() for line in proc.stdout.splitlines() if line.startswith("│")]
    built_in = {name for name, spec in registry().items() if spec.run.__module__.startswith("stages.")}
    assert set(rows) == built_in and "…" not in proc.stdout
    assert {"update_planner", "update_executor"} <= set(rows)
