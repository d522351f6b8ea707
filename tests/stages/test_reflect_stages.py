"""Reflection in the stages, on a tiny shapes-world bootstrap: `plotline generate --reflect` commits a trail that
validates and `plotline audit` shows; the score stage records critic rewards as their own `critic` rows (the step
rows unchanged) and the advantage stage adds them to R_exec; the evaluate stage's reflective mode does not lower
(here: raises) the temporal-following score over open-loop generation of the same checkpoint and reports the
extra compute."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from shapes_fixtures import TINY_SHAPES, bootstrap_tiny_run
from typer.testing import CliRunner

from plotline.cli import app
from plotline.config import load_config
from plotline.rl.advantage_table import compute_advantages
from plotline.store import RunStore
from stages.base import run_stage

TINY = [*TINY_SHAPES, "world.num_eval_instructions=6"]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg, run, _ = bootstrap_tiny_run(tmp_path_factory.mktemp("reflect"), TINY)
    return cfg, run


def _args(cfg):
    return [arg for o in TINY for arg in ("--set", o)] + ["--set", f"storage.root={cfg.storage.root}"]


def test_generate_reflect_commits_a_trail_that_audit_shows(tiny_run):
    cfg, run = tiny_run
    out = runner.invoke(app, ["generate", "--run", run, "--reflect", "--limit", "2", *_args(cfg)])
    assert out.exit_code == 0, out.output
    assert "committed v0" in out.output and "critic calls" in out.output
    art = RunStore(run, cfg.storage).latest("generate", 0)
    trail = art.read_table("reflections.parquet").to_pandas()
    assert set(trail.event) >= {"critique", "decision", "choice", "final"}
    finals = trail[trail.event == "final"]
    assert len(finals) == 2 and finals.video_path.notna().all()
    assert all(art.manifest.file(p) for p in finals.video_path)  # the mp4s are in the artifact
    assert {d for d in trail.decision.dropna()} >= {"accept", "regenerate"}
    assert next(v for v in art.manifest.validation if v["file"] == "reflections.parquet")["success"]

    audit = runner.invoke(app, ["audit", "--run", run, "--step", "0", "--stage", "generate"])
    assert audit.exit_code == 0, audit.output
    assert "reflection videos" in audit.output and "reflection events" in audit.output
    for word in ("critique", "regenerate", "choice", "reflect/world-eval-00000"):
        assert word in audit.output
    valid = runner.invoke(app, ["validate", art.uri])
    assert valid.exit_code == 0 and "reflections contract OK" in valid.output, valid.output


def test_critic_reward_is_its_own_scores_rows_and_an_extra_exec_term(tiny_run):
    cfg, run = tiny_run
    for name in ("plan", "rollout"):
        run_stage(name, cfg, run, 0, show_progress=False)
    plain = run_stage("score", cfg, run, 0, show_progress=False).artifact.read_table("scores.parquet").to_pandas()
    on = load_config(
        ["configs/shapes.yaml"], TINY + ["reflect.critic_reward.enabled=true", "reflect.critic_reward.weight=0.5"]
    )
    on.storage = cfg.storage
    scored = run_stage("score", on, run, 0, show_progress=False)
    assert scored.status == "committed" and scored.artifact.manifest.version == 1  # a cache key of its own
    scores = scored.artifact.read_table("scores.parquet").to_pandas()
    critic = scores[scores.judge == "critic"]
    rollouts = RunStore(run, cfg.storage).latest("rollout", 0).read_table("rollouts.parquet").to_pandas()
    assert len(critic) == len(rollouts) and set(critic.rollout_id) == set(rollouts.rollout_id)
    assert (critic.status != "unscored").all() and critic.score.between(0, 1).all()
    for _, row in critic.merge(rollouts, on="rollout_id").iterrows():
        fields = json.loads(row["fields_json"])
        assert fields["spans"] == list(range(row["switch_step"], len(row["span_starts"])))
        assert len(json.loads(row["raw"])) == len(fields["spans"])
        assert row["score"] == pytest.approx(np.mean(fields["span_scores"]))
    # everything else is what the score stage writes without the option
    rest = scores[scores.judge != "critic"].drop(columns=["latency_s", "cached"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rest, plain.drop(columns=["latency_s", "cached"]).reset_index(drop=True))

    plans = RunStore(run, cfg.storage).latest("plan", 0).read_table("plans.parquet").to_pandas()
    base, _ = compute_advantages(plans, plain, cfg.rewards.weights, cfg.rl.advantage, 0.5)
    extra, summary = compute_advantages(plans, scores, cfg.rewards.weights, cfg.rl.advantage, 0.5)
    base, extra = (t[t.role == "executor"].set_index("sample_id")["reward"] for t in (base, extra))
    expected = base + 0.5 * critic.set_index("rollout_id")["score"].reindex(base.index)
    assert np.allclose(extra.reindex(base.index), expected)
    assert summary["critic_reward"]["weight"] == 0.5 and summary["critic_reward"]["scored"] == len(critic)
    adv = run_stage("advantage", on, run, 0, show_progress=False).manifest.summary
    assert adv["critic_reward"]["mean"] == pytest.approx(critic.score.mean())


def test_reflective_evaluation_raises_temporal_following_at_a_reported_cost(tiny_run):
    cfg, run = tiny_run
    conds = "[{name: open_loop, mode: planner_smooth}, {name: reflect, mode: planner_smooth, reflect: true}]"
    ev = load_config(
        ["configs/shapes.yaml"],
        TINY + [f"eval.conditions={conds}", "eval.plots=false", "eval.write_videos=false", "eval.batch_size=1"],
    )
    ev.storage = cfg.storage
    art = run_stage("evaluate", ev, run, 0, show_progress=False).artifact
    results = art.read_table("results.parquet").to_pandas()
    tf = results[(results.metric == "score") & (results.judge == "programmatic")].pivot(
        index="prompt_id", columns="condition", values="value"
    )
    assert len(tf) == 6 and tf.notna().all().all()
    assert tf["reflect"].mean() > tf["open_loop"].mean()  # measured: 0.306 → 0.372 here
    costs = {c["condition"]: c for c in art.manifest.summary["reflection_costs"]}
    assert costs["open_loop"]["chunk_ratio"] == 1.0 and costs["open_loop"]["critic_calls"] == 0
    assert costs["reflect"]["chunk_ratio"] > 1.0 and costs["reflect"]["critic_calls"] > 0
    limits = ev.reflect
    trail = art.read_table("reflections.parquet").to_pandas()
    per_video = trail.groupby("video_id")[["critic_calls", "regenerations", "replans"]].max()
    assert (per_video.critic_calls <= limits.max_critic_calls).all()
    assert (per_video.regenerations <= limits.max_regenerations).all() and (
        per_video.replans <= limits.max_replans
    ).all()
    report = art.read_bytes("report.md").decode()
    assert "## Reflection: score and compute" in report
    table = json.loads(art.read_bytes("report.json"))["reflection"]
    row = next(r for r in table if r["condition"] == "reflect")
    assert row["tf_delta"] == pytest.approx(tf["reflect"].mean() - tf["open_loop"].mean())
    assert row["time_ratio"] > 1.0 and row["chunk_ratio"] == costs["reflect"]["chunk_ratio"]
