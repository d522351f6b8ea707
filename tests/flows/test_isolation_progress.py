"""A stage run as a child process (isolation or a timeout) still reports its progress: the child prints plain
progress lines, and the parent reads them back into events for the stage's hook and this process's listeners
(the CLI's bar) instead of logging them."""

from __future__ import annotations

import pytest

from flows.isolation import run_stage_process
from plotline.progress import listening
from stages.base import run_stage
from tests.flows.helpers import plugin_config


@pytest.mark.slow  # a `plotline stage` child process (~10 s of imports on 2 shared cores)
def test_child_process_progress_lines_become_events_of_the_parent(tmp_path, calls):
    cfg = plugin_config("orchestration.step_stages=[t_seed,t_metrics]")
    run = str(tmp_path / "runs" / "iso")
    run_stage("t_seed", cfg, run, 0, show_progress=False)
    hooked, heard, logged = [], [], []
    with listening(heard.append):
        rec = run_stage_process("t_metrics", cfg, run, 0, log=logged.append, on_progress=hooked.append, timeout_s=240)
    assert rec["status"] == "committed"
    assert [(e.label, e.done, e.total) for e in hooked] == [("t_metrics@0 scoring", i, 4) for i in (1, 2, 3, 4)]
    assert heard == hooked
    assert not any("progress " in line for line in logged)  # read back as events, not logged as text
