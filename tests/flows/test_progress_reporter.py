"""The stage's Prefect progress artifact is fed by the same progress events as the CLI's bar: throttled updates,
every task's last report, and a closing description with each task's final count and loss."""

from __future__ import annotations

import uuid

import flows.artifacts as artifacts
from flows.artifacts import ProgressReporter
from plotline.progress import ProgressEvent


def test_progress_artifact_is_throttled_keeps_last_reports_and_closes_with_the_final_losses(monkeypatch):
    updates: list[tuple[float, str]] = []
    monkeypatch.setattr(  # the first report creates the artifact (one write), later ones update it
        artifacts,
        "create_progress_artifact",
        lambda **kw: updates.append((kw["progress"], kw["description"])) or uuid.uuid4(),
    )
    monkeypatch.setattr(
        artifacts,
        "update_progress_artifact",
        lambda artifact_id, progress, description: updates.append((progress, description)),
    )
    rep = ProgressReporter("demo-bootstrap-progress", "bootstrap step 0", interval_s=3600)
    rep.start()
    hook = rep.hook
    for done in range(1, 101):
        hook(ProgressEvent("bootstrap@0 planner sft", done, 100, 1.0 / done))
    hook(ProgressEvent("bootstrap@0 executor training videos", 5, None))  # unknown total: no percentage to show
    for done in range(1, 11):
        hook(ProgressEvent("bootstrap@0 executor flow matching", done, 10, 0.5))
    rep.finish()
    # the first report goes through, then the interval holds updates back, except each task's last report
    assert [u[0] for u in updates] == [1.0, 100.0, 100.0, 100.0]
    assert updates[1][1] == "bootstrap step 0: bootstrap@0 planner sft 100/100, loss 0.01"
    assert updates[-1][1] == (
        "bootstrap step 0: done (bootstrap@0 planner sft 100/100, loss 0.01; bootstrap@0 executor training videos "
        "5/?; bootstrap@0 executor flow matching 10/10, loss 0.5)"
    )
