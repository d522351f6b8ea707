"""Independent stages of one step at the same time: the rule that decides it, the dispatch groups, and the train
flow running update_planner and update_executor concurrently (overlap shown by events, outputs bitwise those of
the sequential run, a failure of one not losing the other's commit, a rerun not redoing it)."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flows.groups import check_groups, group_decision, split_groups
from flows.train import stage_sequence
from plotline.concurrency import concurrency_decision, device_claim
from plotline.config import ConfigError, load_config
from plotline.orchestration_config import OrchestrationConfig
from plotline.store import RunStore
from tests.flows.helpers import REPO, child_env, plugin_config, read_calls, wait_for
from tests.stages.shapes_fixtures import TINY_SHAPES

UPDATES = ["update_planner", "update_executor"]


@pytest.mark.parametrize(
    ("device", "processes", "gpus", "claim"),
    [
        ("cpu", 1, 2, {"cpu"}),
        ("auto", 1, 0, {"cpu"}),
        ("cuda", 1, 0, {"cpu"}),
        ("auto", 1, 2, {"cuda:0"}),
        ("cuda", 1, 2, {"cuda:0"}),
        ("cuda:1", 1, 2, {"cuda:1"}),
        ("auto", 3, 2, {"cuda:0", "cuda:1"}),
        ("cuda", 2, 4, {"cuda:0", "cuda:1"}),
    ],
)
def test_device_claims(device, processes, gpus, claim):
    assert device_claim(device, processes, gpus) == frozenset(claim)


def _orch(**kw) -> OrchestrationConfig:
    return OrchestrationConfig.model_validate(kw)


@pytest.mark.parametrize(
    ("orch", "claims", "concurrent", "why"),
    [
        ({}, [{"cpu"}, {"cpu"}], False, "GPU limit has 1 slot"),
        ({"gpu_slots": 2}, [{"cpu"}, {"cpu"}], False, "both use cpu"),
        ({"gpu_slots": 2}, [{"cuda:1"}, {"cuda:0"}], True, "disjoint devices"),
        ({"gpu_slots": 0}, [{"cuda:0", "cuda:1"}, {"cuda:1"}], False, "both use cuda:1"),
        ({"gpu_slots": 2}, [{"cuda:0"}, None], False, "no known devices for update_executor"),
        ({"gpu_slots": 2, "mode": "deployments"}, [{"cpu"}, {"cpu"}], True, "mode=deployments"),
        ({"mode": "deployments"}, [None, None], False, "GPU limit has 1 slot"),
        ({"gpu_stages": ["plan"]}, [{"cuda:0"}, {"cuda:1"}], True, "disjoint devices"),
        ({"concurrent_updates": "off", "gpu_slots": 0}, [{"cuda:0"}, {"cuda:1"}], False, "concurrent_updates=off"),
        (
            {"concurrent_updates": "on", "gpu_slots": 0},
            [{"cpu"}, {"cpu"}],
            True,
            "at the same time (concurrent_updates=on)",
        ),
        ({"concurrent_updates": "on"}, [None, None], True, "the GPU limit's 1 slot(s) make its GPU stages take turns"),
    ],
)
def test_the_auto_rule(orch, claims, concurrent, why):
    claims = [frozenset(c) if c is not None else None for c in claims]
    decision = concurrency_decision(_orch(**orch), UPDATES, claims)
    assert decision.concurrent is concurrent and why in decision.reason


def test_the_cpu_default_runs_the_updates_one_after_the_other():
    cfg = load_config(["configs/shapes.yaml"])
    assert cfg.orchestration.concurrent_updates == "auto"
    assert not group_decision(cfg, UPDATES).concurrent
    assert not group_decision(load_config(["configs/shapes.yaml"], ["orchestration.gpu_slots=0"]), UPDATES).concurrent
    on_two_gpus = load_config(
        ["configs/shapes.yaml"], ["orchestration.gpu_slots=2", "planner.device=cuda:1", "executor.device=cuda:0"]
    )
    assert group_decision(on_two_gpus, UPDATES, gpu_count=2).concurrent


def test_split_groups_keeps_order_and_groups_the_updates_of_each_step():
    cfg = load_config(["configs/shapes.yaml"])
    groups = split_groups(cfg, stage_sequence(cfg, 2))
    assert [[n for n, _ in g] for g in groups if len(g) > 1] == [UPDATES, UPDATES]
    assert [e for g in groups for e in g] == stage_sequence(cfg, 2)
    assert [(n, s) for g in groups if len(g) > 1 for n, s in g] == [(u, s) for s in (0, 1) for u in UPDATES]
    # a resume that starts between the two updates: the remaining one is a group of its own
    assert split_groups(cfg, [("update_executor", 0), ("plan", 1)]) == [[("update_executor", 0)], [("plan", 1)]]
    # not consecutive in step_stages: not grouped
    apart = load_config(
        ["configs/shapes.yaml"],
        ["orchestration.step_stages=[plan,rollout,score,advantage,update_planner,evaluate,update_executor]"],
    )
    assert all(len(g) == 1 for g in split_groups(apart, stage_sequence(apart, 1)))


def test_a_group_whose_stages_read_each_other_is_refused():
    with pytest.raises(ConfigError, match=r"t_count reads t_seed of the same step \(input seed\)"):
        check_groups(plugin_config("orchestration.concurrent_groups=[[t_seed,t_count]]"))
    with pytest.raises(ConfigError, match="no_such_stage is not a registered stage"):
        check_groups(plugin_config("orchestration.concurrent_groups=[[update_planner,no_such_stage]]"))
    with pytest.raises(ConfigError, match="update_planner reads plan"):
        check_groups(load_config(overrides=["orchestration.concurrent_groups=[[plan,update_planner]]"]))
    check_groups(load_config(["configs/shapes.yaml"]))


def test_group_stages_run_at_the_same_time(prefect_harness, tmp_path, calls, monkeypatch):
    """t_meet_a and t_meet_b each complete only once the other has started (each waits for the other's marker):
    one after the other, the first would fail."""
    from flows.train import train_flow

    meet = tmp_path / "meet"
    meet.mkdir()
    monkeypatch.setenv("PLOTLINE_TEST_MEET", str(meet))
    cfg = plugin_config(
        "orchestration.step_stages=[t_seed,t_meet_a,t_meet_b]",
        "orchestration.concurrent_groups=[[t_meet_a,t_meet_b]]",
        "orchestration.concurrent_updates=on",
        "orchestration.gpu_slots=0",
        "orchestration.audit=false",
    )
    run = str(tmp_path / "runs" / "meet")
    records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
    assert [(r["stage"], r["status"]) for r in records] == [
        ("t_seed", "committed"),
        ("t_meet_a", "committed"),
        ("t_meet_b", "committed"),
    ]
    assert {p.name for p in meet.iterdir()} == {"t_meet_a.started", "t_meet_b.started"}
    pids = {p.name: p.read_text() for p in meet.iterdir()}
    assert pids["t_meet_a.started"] != pids["t_meet_b.started"]  # each in its own child process
    store = RunStore(run)
    assert store.latest("t_meet_a", 0).manifest.inputs[0].manifest_id == records[0]["manifest_id"]


def test_one_failing_stage_does_not_lose_the_others_commit(prefect_harness, tmp_path, calls, monkeypatch):
    """t_count is held until t_flaky has failed (t_flaky's failure marker releases it): it still commits, the flow
    fails naming t_flaky, and the rerun runs t_flaky again but not t_count."""
    from flows.dispatch import StageGroupFailed
    from flows.train import train_flow

    release = tmp_path / "hold"
    monkeypatch.setenv("PLOTLINE_TEST_FLAKY", f"{release}.release")
    monkeypatch.setenv("PLOTLINE_TEST_BLOCK", f"t_count@0={release}")
    cfg = plugin_config(
        "orchestration.step_stages=[t_seed,t_flaky,t_count]",
        "orchestration.concurrent_groups=[[t_flaky,t_count]]",
        "orchestration.concurrent_updates=on",
        "orchestration.gpu_slots=0",
        "orchestration.audit=false",
    )
    run = str(tmp_path / "runs" / "fail")
    with pytest.raises(StageGroupFailed, match=r"(?s)stage t_flaky step 0 failed: .*transient failure \(test\)") as err:
        train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
    assert "t_count" in str(err.value) and "kept the committed t_count v0" in str(err.value)
    store = RunStore(run)
    assert store.versions("t_count", 0) == [0] and store.versions("t_flaky", 0) == []
    kept = store.latest("t_count", 0).manifest.manifest_id
    assert read_calls(calls) == {"t_seed@0": 1, "t_flaky@0": 1, "t_count@0": 1}

    records = train_flow(config=cfg.model_dump(mode="json"), run_uri=run, steps=1)
    assert [(r["stage"], r["status"]) for r in records] == [
        ("t_seed", "skipped"),
        ("t_flaky", "committed"),
        ("t_count", "skipped"),
    ]
    assert records[2]["manifest_id"] == kept
    assert read_calls(calls) == {"t_seed@0": 1, "t_flaky@0": 2, "t_count@0": 1}


@pytest.mark.slow
def test_a_stop_request_lets_the_whole_group_finish(prefect_harness, tmp_path, calls):
    """SIGTERM to the flow while t_meet_b@0 is held: both stages of the group still finish and commit (t_meet_a
    completes only because t_meet_b ran at the same time), and the flow stops before the next step."""
    from prefect.settings import PREFECT_API_URL

    meet, gate = tmp_path / "meet", tmp_path / "gate"
    meet.mkdir()
    run = str(tmp_path / "runs" / "stop")
    env = child_env(
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PLOTLINE_TEST_BLOCK=f"t_meet_b@0={gate}",
        PLOTLINE_TEST_CALLS=str(calls),
        PLOTLINE_TEST_MEET=str(meet),
    )
    overrides = [
        "orchestration.step_stages=[t_seed,t_meet_a,t_meet_b]",
        "orchestration.concurrent_groups=[[t_meet_a,t_meet_b]]",
        "orchestration.concurrent_updates=on",
        "orchestration.gpu_slots=0",
        "orchestration.audit=false",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flows.run_train", run, "2", *overrides],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: Path(f"{gate}.started").exists() or proc.poll() is not None, 120, "t_meet_b@0 to start")
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)
        Path(f"{gate}.release").touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped by SIGTERM before t_seed at step 1" in out
    assert "RECORD t_meet_a@0 committed" in out and "RECORD t_meet_b@0 committed" in out
    assert read_calls(calls) == {"t_seed@0": 1, "t_meet_a@0": 1, "t_meet_b@0": 1}
    store = RunStore(run)
    assert store.latest("t_meet_a", 0) is not None and store.latest("t_meet_b", 0) is not None
    assert store.latest("t_seed", 1) is None


# --- the real update stages on the tiny shapes world -------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes_step(tmp_path_factory):
    """A tiny shapes run with step 0 committed up to its advantages (the updates' inputs), and its overrides."""
    from stages.base import run_stage
    from tests.stages.shapes_fixtures import bootstrap_tiny_run

    overrides = [*TINY_SHAPES, "data.instructions_per_step=3"]
    root = tmp_path_factory.mktemp("shapes")
    cfg, run, _ = bootstrap_tiny_run(root, overrides)
    for stage in ("plan", "rollout", "score", "advantage"):
        run_stage(stage, cfg, run, 0, show_progress=False)
    return Path(run), overrides


def _train_updates(src: Path, root: Path, overrides: list[str], *extra: str):
    """Copy the prepared run under `root` and train step 0 there (only the updates are left); returns the train
    flow's final state and the run URI."""
    from flows.train import train_flow

    run = root / "runs" / src.name
    shutil.copytree(src, run)
    cfg = load_config(
        ["configs/shapes.yaml"],
        [
            *overrides,
            f"storage.root={root / 'runs'}",
            "orchestration.final_stages=[]",
            "orchestration.stage_retries=0",
            "orchestration.audit=false",
            *extra,
        ],
    )
    state = train_flow(config=cfg.model_dump(mode="json"), run_uri=str(run), steps=1, return_state=True)
    assert state.is_completed(), state.message
    return state, str(run)


def _file_hashes(run: str, stage: str) -> dict[str, str]:
    return {f.name: f.sha256 for f in RunStore(run).latest(stage, 0).manifest.files}


def _stage_runs(parent_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
        )
    return {fr.name.rsplit("/", 1)[-1]: fr for fr in runs}


@pytest.mark.slow
def test_concurrent_updates_overlap_and_commit_the_sequential_bytes(
    prefect_harness, shapes_step, tmp_path, monkeypatch
):
    """The same step-0 updates, one after the other in this process (the CPU default) and at the same time in two
    child processes (one torch thread each, like this test process): both stage flow runs started before the other
    ended, and the committed adapter safetensors and metrics have the sequential run's sha256."""
    src, overrides = shapes_step
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children compute with this process's thread count
    seq_state, seq_run = _train_updates(src, tmp_path / "seq", overrides, "orchestration.concurrent_updates=off")
    con_state, con_run = _train_updates(
        src, tmp_path / "con", overrides, "orchestration.concurrent_updates=on", "orchestration.gpu_slots=0"
    )
    for state in (seq_state, con_state):
        records = state.result()
        assert [(r["stage"], r["status"]) for r in records[-2:]] == [(u, "committed") for u in UPDATES]
        assert all(r["status"] == "skipped" for r in records[:-2])

    runs = _stage_runs(con_state.state_details.flow_run_id)
    planner, executor = runs["update_planner@0"], runs["update_executor@0"]
    assert planner.start_time < executor.end_time and executor.start_time < planner.end_time
    runs = _stage_runs(seq_state.state_details.flow_run_id)
    planner, executor = runs["update_planner@0"], runs["update_executor@0"]
    assert planner.end_time <= executor.start_time  # one after the other: the order of step_stages

    for stage in UPDATES:
        seq, con = _file_hashes(seq_run, stage), _file_hashes(con_run, stage)
        compared = ("adapter/adapter_model.safetensors", "metrics.parquet")  # the others name the run's folder
        assert {k: con[k] for k in compared} == {k: seq[k] for k in compared}
        on_disk = RunStore(con_run).latest(stage, 0)
        data = on_disk.read_bytes("adapter/adapter_model.safetensors")
        assert hashlib.sha256(data).hexdigest() == seq["adapter/adapter_model.safetensors"]
