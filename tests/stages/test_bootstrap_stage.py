"""bootstrap stage on a local store with a tiny warm start: its checkpoint, caching, and one RL step of the shapes
world that loads it (plan, rollout, score, advantage and both updates record and check their base)."""

from __future__ import annotations

import pytest
from shapes_fixtures import TINY_SHAPES, bootstrap_tiny_run

from stages.base import run_stage
from stages.provenance import BaseMismatch, check_same_base

TINY = [*TINY_SHAPES, "world.num_eval_instructions=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return bootstrap_tiny_run(tmp_path_factory.mktemp("boot"), TINY)


def test_bootstrap_writes_a_loadable_planner_and_executor(tiny_run):
    cfg, run, boot = tiny_run
    art = boot.artifact
    assert boot.status == "committed" and art.manifest.area == "checkpoints" and "/checkpoints/step=000000/" in art.uri
    from plotline.executor.executor import build_executor
    from plotline.planner.model import load_planner

    planner = load_planner(art.local_dir("planner"), None)
    assert planner.tokenizer.chat_template and planner.context_length >= 256
    ex = build_executor(
        cfg.executor.model_copy(update={"checkpoint": art.local_path("executor/dit.safetensors")}), cfg.video
    )
    assert ex.backbone.name == "shapes" and ex.latent_shape[2:] == (1, 1)
    metrics = art.read_table("metrics.parquet").to_pandas()
    assert set(metrics.role) == {"planner", "executor"}
    summary = art.manifest.summary
    assert summary["executor_steps"] == 30 and summary["planner_sft_pairs"] == 80


def test_bootstrap_is_cached(tiny_run):
    cfg, run, boot = tiny_run
    again = run_stage("bootstrap", cfg, run, 0, show_progress=False)
    assert again.status == "skipped" and again.manifest.manifest_id == boot.manifest.manifest_id
    # the judges' thresholds are not part of the warm start
    other = cfg.model_copy(update={"world": cfg.world.model_copy(update={"event_threshold": 0.3})})
    assert run_stage("bootstrap", other, run, 0, show_progress=False).status == "skipped"


def test_one_rl_step_runs_on_the_bootstrap(tiny_run):
    cfg, run, boot = tiny_run
    base = f"bootstrap:{boot.manifest.manifest_id}"
    out = {name: run_stage(name, cfg, run, 0, show_progress=False) for name in cfg.orchestration.step_stages}
    assert out["plan"].manifest.summary["planner_base"] == base
    assert out["rollout"].manifest.summary["executor_base"] == base
    assert out["update_planner"].manifest.summary["planner_base"] == base
    assert out["update_executor"].manifest.summary["executor_base"] == base
    assert {r.key for r in out["rollout"].manifest.inputs} >= {"plans", "bootstrap"}
    scores = out["score"].artifact.read_table("scores.parquet").to_pandas()
    assert set(scores.judge) == {"plan", "temporal", "step", "pickscore"}
    assert (scores.status != "unscored").all(), scores[scores.status == "unscored"].reason.tolist()
    summary = out["score"].manifest.summary
    videos = 3 * cfg.planner.num_plans * cfg.executor.num_continuations  # 3 instructions × M plans × N videos
    assert cfg.executor.num_continuations >= 2  # the preset's N: a group to compare
    assert summary["frame_sources"] == {"temporal:stored": videos, "step:stored": videos}
    assert summary["aesthetic_model"] == "world-image-statistics"
    # the next step's plan starts from the update and the same base
    nxt = run_stage("plan", cfg, run, 1, show_progress=False)
    assert nxt.manifest.summary["adapter_version"] == out["update_planner"].manifest.summary["adapter_version"]


def test_update_refuses_samples_from_another_base(tiny_run):
    class Ctx:
        inputs = {"plans": type("A", (), {"manifest": type("M", (), {"summary": {"planner_base": "bootstrap:x"}})()})()}
        config = tiny_run[0]

    with pytest.raises(BaseMismatch, match="bootstrap:x"):
        check_same_base(Ctx(), "plans", "planner")
