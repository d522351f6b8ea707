"""How the CLI shows progress: sparse plain lines off a terminal (bounded, with loss and ETA), bars on one, and a
real `plotline stage bootstrap` piped like `| cat`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from plotline.cli.progress_view import Bars, PlainLines, progress_display
from plotline.progress import ProgressEvent, parse_plain_line, publish

REPO = Path(__file__).resolve().parents[3]


class Clock:
    """A clock the test moves by hand (no wall-clock dependence)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_print_once_per_tenth_with_loss_and_a_hand_computed_eta():
    lines: list[str] = []
    clock = Clock()
    plain = PlainLines(lines.append, clock=clock)
    for done in range(0, 1001):
        clock.now = float(done)  # one second per step
        plain(ProgressEvent("bootstrap@0 executor flow matching", done, 1000, 1.0 / (done + 1)))
    assert len(lines) == 10
    assert lines[0] == "progress bootstrap@0 executor flow matching: 100/1000 (10%) loss 0.009901 eta 15m00s"
    assert lines[-1].startswith("progress bootstrap@0 executor flow matching: 1000/1000 (100%)")
    assert all(" loss " in line and " eta " in line for line in lines)


def test_plain_lines_bound_unknown_totals_and_restart_a_reused_label():
    lines: list[str] = []
    plain = PlainLines(lines.append, clock=Clock())
    for done in range(1, 2001):
        plain(ProgressEvent("score@0 frames", done, None))
    assert [parse_plain_line(x).done for x in lines] == [1, 10, 100, 1000]
    lines.clear()
    for _run in (0, 1):  # the same task label run twice (two stage runs): each is reported whole
        for done in range(0, 5):
            plain(ProgressEvent("update_planner@0 gspo", done, 4, 0.5))
    assert [parse_plain_line(x).done for x in lines] == [1, 2, 3, 4] * 2


def test_display_chooses_plain_lines_off_a_terminal_and_bars_on_one():
    piped = Console(file=io.StringIO(), force_terminal=False)
    with progress_display(piped) as shown:
        publish(ProgressEvent("rollout@0", 1, 1))
    assert isinstance(shown, PlainLines)
    text = piped.file.getvalue()
    assert text == "progress rollout@0: 1/1 (100%) eta 0s\n"
    tty = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress_display(tty) as shown:
        assert isinstance(shown, Bars)
        publish(ProgressEvent("update_executor@0 flow-grpo", 1, 4, 0.25))
        assert [t.description for t in shown.progress.tasks] == ["update_executor@0 flow-grpo"]
        publish(ProgressEvent("update_executor@0 flow-grpo", 4, 4, 0.125))
        assert shown.progress.tasks == []  # a finished task's bar goes away
    publish(ProgressEvent("after", 1, 1))  # nobody listens any more: nothing is drawn
    assert "after" not in tty.file.getvalue()


@pytest.mark.slow  # a `plotline stage` child process (imports + a tiny warm start: ~25 s on 2 shared cores)
def test_piped_stage_command_prints_a_bounded_number_of_progress_lines_with_loss_and_eta(tmp_path):
    from plotline.config import load_config
    from plotline.store import StorageConfig
    from stages.base import run_stage

    overrides = [
        "world.num_train_instructions=3",
        "world.num_eval_instructions=2",
        "world.bootstrap.planner.steps=24",
        "world.bootstrap.planner.sft_instructions=20",
        "world.bootstrap.executor.steps=40",
        "world.bootstrap.executor.pool_size=32",
        "planner.batch_size=8",
    ]
    cfg = load_config([str(REPO / "configs" / "shapes.yaml")], overrides)
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    run = str(tmp_path / "runs" / "piped")
    run_stage("instructions", cfg, run, 0, show_progress=False)  # records run.json: the rerun's config
    proc = subprocess.run(
        [sys.executable, "-m", "plotline.cli", "stage", "bootstrap", "--run", run],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO), "COLUMNS": "37"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b[" not in proc.stdout  # no escape codes on a pipe
    assert "Loading weights" not in proc.stdout and "Writing model shards" not in proc.stdout  # no library bars
    lines = [line for line in proc.stdout.splitlines() if line.startswith("progress ")]
    by_task: dict[str, list] = {}
    for line in lines:
        event = parse_plain_line(line)
        assert event is not None, line
        by_task.setdefault(event.label, []).append(event)
    assert set(by_task) == {
        "bootstrap@0 planner sft",
        "bootstrap@0 executor training videos",
        "bootstrap@0 executor flow matching",
    }
    for label, events in by_task.items():
        assert 1 <= len(events) <= 10, (label, len(events))  # sparse: at most one line per tenth
        assert [e.done for e in events] == sorted(e.done for e in events) and events[-1].done == events[-1].total
    assert by_task["bootstrap@0 executor flow matching"][-1].total == 40
    for label in ("bootstrap@0 planner sft", "bootstrap@0 executor flow matching"):
        assert all(e.loss is not None for e in by_task[label])
    assert all(" eta " in line for line in lines)
    assert "committed v0" in proc.stdout
