"""The train flow's streaming group (docs/streaming_score.md): the rule, the group it forms, and a train step
whose rollout and score run at the same time as child processes, score reading the rollout's parts; a rerun with
everything committed starts nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.groups import merge_streamed, split_groups
from flows.train import stage_sequence
from plotline.concurrency import stream_decision
from plotline.config import load_config
from plotline.store import RunStore
from tests.stages.shapes_fixtures import TINY_SHAPES


def _cfg(*extra: str):
    return load_config(["configs/shapes.yaml"], list(extra))


@pytest.mark.parametrize(
    ("mode", "backend", "on"),
    [("auto", "programmatic", False), ("auto", "openai", True), ("on", "programmatic", True), ("off", "openai", False)],
)
def test_the_stream_rule(mode, backend, on):
    decision = stream_decision(
        _cfg(f"orchestration.stream_score={mode}", f"rewards.judge_backend={backend}", "orchestration.gpu_slots=0")
    )
    assert decision.concurrent is on and f"stream_score={mode}" in decision.reason


def test_streaming_merges_rollout_and_score_of_each_step_only():
    on, off = _cfg("orchestration.stream_score=on", "orchestration.gpu_slots=2"), _cfg("orchestration.stream_score=off")
    seq = stage_sequence(on, 2)
    merged = merge_streamed(on, split_groups(on, seq))
    assert [(("rollout", s), ("score", s)) for s in (0, 1)] == [
        tuple(g) for g in merged if len(g) == 2 and g[0][0] == "rollout"
    ]
    assert [e for g in merged for e in g] == seq  # order kept
    assert merge_streamed(off, split_groups(off, seq)) == split_groups(off, seq)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A tiny shapes run with step 0's plans committed, and its overrides."""
    from stages.base import run_stage
    from tests.stages.shapes_fixtures import bootstrap_tiny_run

    root = tmp_path_factory.mktemp("stream-flow")
    cfg, run, _ = bootstrap_tiny_run(root, TINY_SHAPES)
    run_stage("plan", cfg, run, 0, show_progress=False)
    return Path(run)


def test_train_step_streams_the_score_and_a_rerun_starts_nothing(prefect_harness, planned, tmp_path, monkeypatch):
    from flows.train import train_flow

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = tmp_path / "runs" / planned.name
    shutil.copytree(planned, run)
    cfg = load_config(
        ["configs/shapes.yaml"],
        [
            *TINY_SHAPES,
            f"storage.root={tmp_path / 'runs'}",
            "orchestration.step_stages=[plan,rollout,score]",
            "orchestration.final_stages=[]",
            "orchestration.stage_retries=0",
            "orchestration.audit=false",
            "orchestration.stream_score=on",
            "orchestration.stream_poll_s=0.05",
            "orchestration.gpu_slots=0",  # rollout and score are GPU stages: one GPU slot would serialise them
        ],
    )
    state = train_flow(config=cfg.model_dump(mode="json"), run_uri=str(run), steps=1, return_state=True)
    assert state.is_completed(), state.message
    records = {r["stage"]: r for r in state.result()}
    assert records["rollout"]["status"] == records["score"]["status"] == "committed"
    store = RunStore(str(run))
    rollout, score = store.latest("rollout", 0), store.latest("score", 0)
    assert score.manifest.summary["stream"]["rollout_attempt"] == rollout.manifest.attempt
    assert next(r for r in score.manifest.inputs if r.key == "rollouts").manifest_id == rollout.manifest.manifest_id

    again = train_flow(config=cfg.model_dump(mode="json"), run_uri=str(run), steps=1, return_state=True)
    assert again.is_completed(), again.message
    assert all(r["status"] == "skipped" for r in again.result())
    assert store.versions("rollout", 0) == [0] and store.versions("score", 0) == [0]


def test_one_gpu_slot_for_both_stages_never_streams():
    decision = stream_decision(_cfg("orchestration.stream_score=on", "orchestration.gpu_slots=1"))
    assert decision.concurrent is False and "1 slot(s)" in decision.reason
