"""`plotline audit --sample` on a one-step shapes run: the chain joins plan, rollout, every judge reply, the
reward, its group and the advantage; the reward recomputed by hand from the verbatim replies equals the stored
one; statistics are per judge and only reward-like columns are ranked; a forced upstream rerun is shown as not
consumed, and --version follows an older head."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from plotline.cli import app
from plotline.store import RunStore

runner = CliRunner()

FAST = [
    "world.num_train_instructions=2",
    "world.bootstrap.planner.steps=2",
    "world.bootstrap.planner.sft_instructions=4",
    "world.bootstrap.executor.steps=2",
    "world.bootstrap.executor.pool_size=16",
    "planner.batch_size=8",
]


@pytest.fixture(scope="module")
def one_step(tmp_path_factory):
    from plotline.config import load_config
    from plotline.store import StorageConfig
    from stages.base import run_stage

    root = tmp_path_factory.mktemp("audit")
    cfg = load_config(["configs/shapes.yaml"], FAST)
    cfg.storage = StorageConfig(root=str(root / "runs"))
    run = str(root / "runs" / "chain")
    for stage in ("instructions", "bootstrap", "plan", "rollout", "score", "advantage"):
        run_stage(stage, cfg, run, 0, show_progress=False)
    return cfg, run


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_continuation_chain_recomputes_its_reward_from_the_raw_replies(one_step):
    cfg, run = one_step
    store = RunStore(run)
    adv = store.latest("advantage", 0).read_table("advantages.parquet").to_pandas()
    row = adv[adv.role == "executor"].iloc[1]
    chain = _json(
        runner.invoke(app, ["audit", "--run", run, "--step", "0", "--sample", f"step:{row.sample_id}", "--json"])
    )
    assert chain["sample_id"] == row.sample_id and chain["role"] == "executor"
    assert chain["plan"]["plan_id"] == row.plan_id and chain["plan"]["raw_text"]
    assert chain["rollout"]["switch_step"] >= 1 and len(chain["rollout"]["span_prompts"]) == len(chain["plan"]["steps"])
    judges = {j["judge"]: j for j in chain["judges"]}
    assert set(judges) == {"temporal", "step", "pickscore"}
    assert all(j["model"].startswith("programmatic:") for n, j in judges.items() if n != "pickscore")
    # by hand, from the verbatim reply: DESIGN §5 R_step weights, 0–10 scale; R_exec = 0.6·R_step + 0.4·R_aes
    raw = json.loads(judges["step"]["raw"])
    r_step = (
        0.15 * raw["subject_score"]
        + 0.15 * raw["scene_score"]
        + 0.2 * raw["action_score"]
        + 0.2 * raw["object_appearance_reasonability_score"]
        + 0.3 * raw["final_score"]
    ) / 10
    assert judges["step"]["aggregate"] == pytest.approx(r_step, abs=1e-12)
    w = cfg.rewards.weights.exec
    expected = w.step * r_step + w.aesthetic * judges["pickscore"]["stored_score"]
    assert chain["reward"]["stored"] == pytest.approx(row.reward, abs=1e-12)
    assert chain["reward"]["recomputed"] == pytest.approx(expected, abs=1e-9) and chain["reward"]["consistent"]
    members = adv[(adv.role == "executor") & (adv.group_id == row.group_id)]
    assert [m["sample_id"] for m in chain["group"]["members"]] == members.sample_id.tolist()
    assert chain["group"]["mean"] == pytest.approx(members.reward.mean(), abs=1e-12)
    assert chain["advantage"]["value"] == pytest.approx(row.advantage, abs=1e-12)
    assert chain["advantage"]["expected"] == pytest.approx(row.advantage, abs=1e-6)


def test_plan_chain_and_human_output(one_step):
    cfg, run = one_step
    plan_id = RunStore(run).latest("plan", 0).read_table("plans.parquet").column("plan_id")[0].as_py()
    chain = _json(runner.invoke(app, ["audit", "--run", run, "--sample", plan_id, "--json"]))
    assert chain["role"] == "planner" and [j["judge"] for j in chain["judges"]] == ["plan"]
    terms = chain["reward"]["terms"]
    rollouts = RunStore(run).latest("rollout", 0).read_table("rollouts.parquet").column("plan_id").to_pylist()
    assert len(terms["R_video"]) == rollouts.count(plan_id) >= 1  # one temporal reply per continuation
    w = cfg.rewards.weights.plan
    by_hand = w.judge * terms["R_judge"] + w.video * np.mean(terms["R_video"]) - terms["format_penalty"]
    assert chain["reward"]["stored"] == pytest.approx(by_hand, abs=1e-9)
    out = runner.invoke(app, ["audit", "--run", run, "--step", "0", "--sample", plan_id], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for word in (
        "instruction",
        "judge plan",
        "faithfulness_score",
        "aggregate",
        "recomputed",
        "group",
        "advantage",
        "versions used",
    ):
        assert word in out.output
    bad = runner.invoke(app, ["audit", "--run", run, "--step", "0", "--sample", "nope#m9"])
    assert bad.exit_code == 1 and "neither a plan nor a continuation" in bad.output


def test_statistics_are_per_judge_and_only_rewards_are_ranked(one_step):
    from plotline.audit import audit_run

    _, run = one_step
    report = audit_run(RunStore(run), step=0)
    score_groups = {r.group for r in report.rows if r.stage == "score" and r.column == "score"}
    assert score_groups == {"plan", "temporal", "step", "pickscore"}  # never one pooled mean
    assert "" not in {r.group for r in report.rows if r.stage == "score"}
    ranked_columns = {(e["stage"], e["column"]) for e in report.extremes}
    assert ("bootstrap", "value") not in ranked_columns and ("score", "latency_s") not in ranked_columns
    assert ("advantage", "reward") in ranked_columns and ("score", "score") in ranked_columns
    for stage, group in {(e["stage"], e["group"]) for e in report.extremes}:
        ids = [e["id"] for e in report.extremes if e["stage"] == stage and e["group"] == group]
        assert len(ids) == len(set(ids)), f"{stage}/{group} lists a sample twice"
    best = [
        e["value"] for e in report.extremes if e["stage"] == "score" and e["group"] == "step" and e["which"] == "best"
    ]
    worst = [
        e["value"] for e in report.extremes if e["stage"] == "score" and e["group"] == "step" and e["which"] == "worst"
    ]
    assert min(best) >= max(worst) and best == sorted(best, reverse=True)


def test_forced_plan_rerun_is_shown_as_not_consumed(one_step, tmp_path):
    import shutil

    from plotline.config import load_config
    from plotline.store import StorageConfig
    from stages.base import run_stage

    _, run = one_step
    copy = tmp_path / "runs" / "chain"
    shutil.copytree(run, copy)
    cfg = load_config(["configs/shapes.yaml"], FAST)
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    run_stage("plan", cfg, str(copy), 0, force=True, show_progress=False)
    out = runner.invoke(app, ["audit", "--run", str(copy), "--step", "0"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "versions consumed at step 0" in out.output and "v0 (newer exists)" in out.output
    plan_id = RunStore(str(copy)).latest("plan", 0).read_table("plans.parquet").column("plan_id")[0].as_py()
    chain = _json(runner.invoke(app, ["audit", "--run", str(copy), "--sample", plan_id, "--version", "0", "--json"]))
    plan = next(e for e in chain["lineage"] if e["stage"] == "plan")
    assert plan["version"] == 0 and plan["newest"] == 1 and plan["consumed_by"] == "advantage v0"
    missing = runner.invoke(app, ["audit", "--run", str(copy), "--sample", plan_id, "--version", "5"])
    assert missing.exit_code == 1 and "no committed version 5" in missing.output
