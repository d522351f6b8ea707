"""Stopping and resuming the train flow, process-level stage timeouts, and the evaluate/synthesize shells.

The flow runs in a child process (against the session's Prefect test API) so the test can send it SIGTERM (it
finishes the running stage, then stops) or SIGKILL (mid-stage: nothing of that stage is committed); the next run
resumes without redoing committed stages and without losing their data.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flows.params import StageParams
from plotline.store import RunStore
from tests.flows.helpers import REPO, child_env, pid_alive, plugin_config, read_calls, wait_for


def _start_flow(run: str, block: str, calls: Path, steps: int = 2) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = child_env(PREFECT_API_URL=PREFECT_API_URL.value(), PLOTLINE_TEST_BLOCK=block, PLOTLINE_TEST_CALLS=str(calls))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.flows.run_train", run, str(steps)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _manifest_ids(store: RunStore) -> dict[tuple[str, int], str]:
    return {
        (stage, step): store.latest(stage, step).manifest.manifest_id
        for step in store.steps()
        for stage in store.stages_at(step)
        if store.latest(stage, step)
    }


@pytest.mark.slow
def test_sigterm_stops_cleanly_sigkill_loses_nothing_and_the_rerun_resumes(prefect_harness, tmp_path, calls):
    from flows.train import train_flow

    run = str(tmp_path / "runs" / "resume")
    store = RunStore(run)

    # 1) SIGTERM while t_seed@1 runs: the stage finishes and commits, the flow stops before t_count@1, exit 0
    gate = tmp_path / "gate-term"
    proc = _start_flow(run, f"t_seed@1={gate}", calls)
    try:
        wait_for(lambda: Path(f"{gate}.started").exists() or proc.poll() is not None, 90, "t_seed@1 to start")
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)
        Path(f"{gate}.release").touch()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped by SIGTERM before t_count at step 1" in out
    assert "RECORD t_seed@1 committed" in out and "t_count@1" not in out
    assert store.latest("t_seed", 1) is not None and store.latest("t_count", 1) is None
    assert store.garbage() == []

    # 2) SIGKILL while t_count@1 runs: the process dies mid-stage; committed outputs stay, the attempt is garbage
    before = _manifest_ids(store)
    gate = tmp_path / "gate-kill"
    proc = _start_flow(run, f"t_count@1={gate}", calls)
    try:
        wait_for(lambda: Path(f"{gate}.started").exists() or proc.poll() is not None, 90, "t_count@1 to start")
        assert proc.poll() is None, proc.stdout.read()
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store.latest("t_count", 1) is None
    assert _manifest_ids(store) == before
    garbage = store.garbage()
    assert len(garbage) == 1 and "step=000001/t_count/v0000/attempt-" in garbage[0]

    # 3) rerun in this process: resumes at t_count@1, redoes nothing committed, loses nothing
    records = train_flow(config=plugin_config().model_dump(mode="json"), run_uri=run, steps=2)
    assert [(r["stage"], r["step"], r["status"]) for r in records] == [
        ("t_seed", 0, "skipped"),
        ("t_count", 0, "skipped"),
        ("t_seed", 1, "skipped"),
        ("t_count", 1, "committed"),
    ]
    assert {k: v for k, v in _manifest_ids(store).items() if k in before} == before
    assert read_calls(calls) == {"t_seed@0": 1, "t_count@0": 1, "t_seed@1": 1, "t_count@1": 2}  # 2: killed + resumed
    assert store.latest("t_count", 1).manifest.summary["count"] == 1
    assert len(store.garbage()) == 1  # the killed attempt, for `plotline gc`


@pytest.mark.slow
def test_timeout_kills_the_stage_process_and_commits_nothing(prefect_harness, tmp_path, calls, monkeypatch):
    from flows.isolation import StageTimeout
    from flows.stage_flows import stage_flow

    run = str(tmp_path / "runs" / "timeout")
    gate = tmp_path / "gate"
    monkeypatch.setenv("PLOTLINE_TEST_BLOCK", f"t_seed@0={gate}")
    cfg = plugin_config("orchestration.stage_timeouts={t_seed: 5}", "orchestration.kill_grace_s=1")
    params = StageParams(run_uri=run, step=0, config=cfg.model_dump(mode="json"))
    state = stage_flow("t_seed")(params, return_state=True)
    assert state.is_failed()
    with pytest.raises(StageTimeout, match=r"ran past its 5 s limit; its process group \(pid (\d+)\)") as info:
        state.result()
    group = int(re.search(r"pid (\d+)", str(info.value)).group(1))
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # the whole process group of the stage is gone
    # Normally the stage was inside its run() when it was killed; on a loaded machine the child may still have been
    # importing at the deadline. Either way it is gone and nothing is committed; the call log follows that event.
    killed_inside_run = Path(f"{gate}.started").exists()
    if killed_inside_run:
        assert not pid_alive(int(Path(f"{gate}.started").read_text()))
    assert RunStore(run).latest("t_seed", 0) is None

    # the same stage as a child process without the block: committed, and the in-process rerun skips it
    monkeypatch.delenv("PLOTLINE_TEST_BLOCK")
    cfg = plugin_config("orchestration.isolation=subprocess")
    rec = stage_flow("t_seed")(StageParams(run_uri=run, step=0, config=cfg.model_dump(mode="json")))
    assert rec["status"] == "committed" and rec["version"] == 0
    rec = stage_flow("t_seed")(StageParams(run_uri=run, step=0, config=plugin_config().model_dump(mode="json")))
    assert rec["status"] == "skipped"
    assert read_calls(calls) == {"t_seed@0": 1 + killed_inside_run}


def test_evaluate_and_synthesize_shells(prefect_harness, tmp_path, calls):
    from flows.evaluate import evaluate_flow
    from flows.synthesize import synthesize_flow
    from flows.train import train_flow

    run = str(tmp_path / "runs" / "shells")
    cfg = plugin_config(
        "orchestration.step_stages=[t_seed]",
        "orchestration.evaluate_stage=t_seed",
        "orchestration.synthesize_stage=t_seed",
    )
    train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1, start_step=3)
    rec = evaluate_flow(config=cfg.model_dump(mode="json"), run_uri=run)
    assert (rec["stage"], rec["step"], rec["status"]) == ("t_seed", 3, "skipped")  # newest step, already committed
    rec = synthesize_flow(config=cfg.model_dump(mode="json"), run_uri=run, step=5)
    assert (rec["stage"], rec["step"], rec["status"]) == ("t_seed", 5, "committed")
    missing = plugin_config("orchestration.evaluate_stage=no_evaluate_stage")
    with pytest.raises(ValueError, match=r"\['no_evaluate_stage'\] are not available"):
        evaluate_flow(config=missing.model_dump(mode="json"), run_uri=run)


def test_a_failed_stage_is_retried_with_backoff_and_commits_once(prefect_harness, tmp_path, calls, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.stage_flows import stage_flow

    monkeypatch.setenv("PLOTLINE_TEST_FLAKY", str(tmp_path / "flaky"))
    run = str(tmp_path / "runs" / "retry")
    cfg = plugin_config("orchestration.stage_retries=2", "orchestration.retry_delay_s=0.2")
    state = stage_flow("t_flaky")(
        StageParams(run_uri=run, step=0, config=cfg.model_dump(mode="json")), return_state=True
    )
    assert state.is_completed() and state.result()["status"] == "committed"
    assert read_calls(calls) == {"t_flaky@0": 2}
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    task = next(t for t in tasks if t.name == "t_flaky@0")
    assert task.run_count == 2 and task.state.is_completed()
    store = RunStore(run)
    assert store.versions("t_flaky", 0) == [0] and store.garbage() == []  # the failed attempt cleaned up after itself
