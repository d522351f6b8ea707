"""Fault-injection fixtures: a tiny shapes run committed once, a scripted judge server, a stalled S3 endpoint,
and the check every probe ends with: every committed artifact of the run still validates."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.scripted_openai import ScriptedChat

FAST_SHAPES = [
    "world.num_train_instructions=2",
    "world.bootstrap.planner.steps=2",
    "world.bootstrap.planner.sft_instructions=4",
    "world.bootstrap.executor.steps=2",
    "world.bootstrap.executor.pool_size=16",
    "planner.batch_size=8",
]
"""configs/shapes.yaml with a two-step warm start: the policies are poor, the artifacts are real."""


def assert_run_valid(run_uri: str, storage=None) -> int:
    """Every committed artifact of the run passes `plotline validate`'s checks; returns how many were checked."""
    from plotline.store import RunStore
    from plotline.store.verify import verify_run

    reports = verify_run(RunStore(run_uri, storage))
    bad = [f for r in reports for f in r.failures]
    assert not bad, bad
    return len(reports)


@pytest.fixture(scope="session")
def shapes_run(tmp_path_factory):
    """(config, run URI) of a tiny shapes run with instructions, bootstrap, plan and rollout committed at step 0."""
    from plotline.config import load_config
    from plotline.store import StorageConfig
    from stages.base import run_stage

    root = tmp_path_factory.mktemp("faults")
    cfg = load_config(["configs/shapes.yaml"], FAST_SHAPES)
    cfg.storage = StorageConfig(root=str(root / "runs"))
    run = str(root / "runs" / "faults")
    for stage in ("instructions", "bootstrap", "plan", "rollout", "score", "advantage"):
        run_stage(stage, cfg, run, 0, show_progress=False)
    return cfg, run


@pytest.fixture
def run_copy(shapes_run, tmp_path):
    """(config, run URI) of a private copy of the shapes run, for probes that commit or break something."""
    import shutil

    from plotline.store import StorageConfig

    cfg, run = shapes_run
    root = tmp_path / "runs"
    shutil.copytree(Path(run), root / "faults")
    cfg = cfg.model_copy(update={"storage": StorageConfig(root=str(root))})
    return cfg, str(root / "faults")


def all_kinds_reply(value: float) -> str:
    """One JSON reply carrying every judge kind's keys (each kind reads its own): `value` on the 0–10 scales,
    value / 10 on the plan judge's 0–1 scale."""
    video = [
        "temporal_order_score",
        "physical_plausibility_score",
        "visual_consistency_score",
        "prompt_alignment_score",
        "final_score",
        "subject_score",
        "scene_score",
        "action_score",
        "object_appearance_reasonability_score",
    ]
    body = {k: value for k in video}
    body.update(
        {k: value / 10 for k in ("faithfulness_score", "coverage_score", "temporal_score", "hallucination_score")}
    )
    body["frame_scores"] = [value] * 32
    return json.dumps(body)


@pytest.fixture
def judge_server():
    """(base URL, script) of a scripted judge whose reply is `script["reply"](call_number)`; set it in the test."""
    script = {"reply": lambda call: "{}"}
    lock = threading.Lock()
    count = {"n": 0}

    def reply(body):
        with lock:
            count["n"] += 1
            call = count["n"]
        return script["reply"](call)

    with ScriptedChat(reply) as server:
        script["server"] = server
        yield server.url, script


@pytest.fixture
def stalled_endpoint():
    """A loopback endpoint that accepts and never answers (closes itself after 60 s at the latest)."""
    from tests.stalled_endpoint import StalledEndpoint

    with StalledEndpoint(max_s=60) as ep:
        yield ep


def run_folder(run: str) -> Path:
    """The local folder of a local run URI."""
    return Path(run)
