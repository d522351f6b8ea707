"""`plotline eval ablation` end to end on a tiny shapes world (one seed, one RL step): it trains the four variants
from one shared bootstrap, evaluates the eight conditions in one evaluate stage, and commits the ablation artifact;
the table is recomputed here from the evaluate artifact's results.parquet and the committed manifests; a rerun
(piped through `cat`) starts no stage; `plotline eval report` renders the artifact."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from plotline.cli.eval import app as eval_app

root_app = typer.Typer()
root_app.add_typer(eval_app, name="eval")
runner = CliRunner()

TINY = [
    "world.num_train_instructions=2",
    "world.num_eval_instructions=3",
    "world.bootstrap.planner.steps=2",
    "world.bootstrap.planner.sft_instructions=4",
    "world.bootstrap.executor.steps=2",
    "world.bootstrap.executor.pool_size=16",
    "planner.batch_size=8",
    "data.instructions_per_step=2",
    "eval.write_videos=false",
    "reflect.candidates=1",
    "reflect.max_regenerations=1",
    "reflect.max_replans=0",
]
CONDITIONS = [
    "global",
    "step_prompts",
    "bootstrap",
    "planner_rl",
    "executor_rl",
    "joint",
    "joint_self_paced",
    "joint_reflect",
]


def _args(root: Path) -> list[str]:
    out = ["eval", "ablation", "--config", "configs/shapes.yaml", "--seeds", "0", "--steps", "1", "--root", str(root)]
    for s in TINY:
        out += ["--set", s]
    return out


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def _manifests(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run.rglob("_manifest.json"))]


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation") / "runs"
    result = runner.invoke(root_app, _args(root))
    assert result.exit_code == 0, result.output
    return root, result.output


def test_ablation_commits_the_artifact(ablation):
    root, output = ablation
    art = root / "ablation" / "step=000000" / "ablation" / "v0000"
    man = _manifest(art)
    assert man["stage"] == "ablation" and {f["kind"] for f in man["files"] if f["kind"]} == {
        "ablation_seeds",
        "ablation_summary",
    }
    assert {f["name"] for f in man["files"]} >= {"report.md", "report.html", "ablation.png"}
    evaluation = root / "ablation-s0-base" / "step=000000" / "evaluate" / "v0000"
    assert [(i["key"], i["manifest_id"]) for i in man["inputs"]] == [
        ("evaluate:s0", _manifest(evaluation)["manifest_id"])
    ]
    assert "Method ablation" in output and "25 stage(s) computed, 0 already committed" in output
    assert f"ablation artifact committed: {art}" in output
    for line in ("ablation-s0-base step 0 bootstrap: committed", "ablation-s0-joint step 0 update_executor: committed"):
        assert line in output
    # progress off a terminal: plain lines of the whole ablation and of each stage's tasks, no library tqdm bars
    assert "progress ablation stage calls: 25/25 (100%)" in output
    assert "progress bootstrap@0 " in output and "progress rollout@0: " in output
    assert "Loading weights" not in output and "Writing model shards" not in output


def test_variants_share_one_bootstrap_and_omit_their_stages(ablation):
    root, _ = ablation
    boot = root / "ablation-s0-base" / "checkpoints" / "step=000000" / "bootstrap" / "v0000"
    boot_id = _manifest(boot)["manifest_id"]
    stages = {}
    for variant in ("planner_rl", "executor_rl", "joint", "joint_self_paced"):
        run = root / f"ablation-s0-{variant}"
        assert not (run / "checkpoints").exists()  # no bootstrap of its own
        mans = _manifests(run)
        stages[variant] = {m["stage"] for m in mans}
        for m in mans:
            for inp in m["inputs"]:
                if inp["key"] in ("bootstrap", "instructions"):
                    assert inp["path"].startswith(str(root / "ablation-s0-base"))
                    if inp["key"] == "bootstrap":
                        assert inp["manifest_id"] == boot_id
            if m["stage"] in ("plan", "rollout"):
                assert (
                    m["summary"]["planner_base" if m["stage"] == "plan" else "executor_base"] == f"bootstrap:{boot_id}"
                )
    common = {"plan", "rollout", "score", "advantage"}
    assert stages["planner_rl"] == common | {"update_planner"}
    assert stages["executor_rl"] == common | {"update_executor"}
    assert stages["joint"] == stages["joint_self_paced"] == common | {"update_planner", "update_executor"}
    adv = {
        v: _manifests(root / f"ablation-s0-{v}/step=000000/advantage")[0]["summary"]
        for v in ("joint", "joint_self_paced")
    }
    assert "self_paced_weights_mean" in adv["joint_self_paced"] and "self_paced_weights_mean" not in adv["joint"]


def test_table_is_recomputed_from_results_parquet_and_manifests(ablation):
    root, _ = ablation
    art = root / "ablation" / "step=000000" / "ablation" / "v0000"
    summary = {r["condition"]: r for r in pq.read_table(art / _file(art, "summary.parquet")).to_pylist()}
    seeds = {r["condition"]: r for r in pq.read_table(art / _file(art, "seeds.parquet")).to_pylist()}
    assert list(summary) == CONDITIONS
    ev = root / "ablation-s0-base" / "step=000000" / "evaluate" / "v0000"
    res = pq.read_table(ev / _file(ev, "results.parquet")).to_pandas()
    tf = res[(res.judge == "programmatic") & (res.metric == "score") & res.value.notna()]
    scores = tf.pivot_table(index="prompt_id", columns="condition", values="value")
    base = scores["bootstrap"].to_numpy()
    for cond in CONDITIONS:
        x = scores[cond].to_numpy()
        d = x - base
        row = summary[cond]
        assert row["interval_over"] == "prompts" and row["seeds"] == 1
        assert row["mean"] == pytest.approx(x.mean()) and row["delta"] == pytest.approx(d.mean(), abs=1e-12)
        half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
        assert (row["lo"], row["hi"]) == (pytest.approx(x.mean() - half), pytest.approx(x.mean() + half))
        if d.std() > 0:
            lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
            assert (row["delta_lo"], row["delta_hi"]) == (pytest.approx(lo), pytest.approx(hi))
        assert seeds[cond]["mean"] == row["mean"] and seeds[cond]["evaluation"] == str(ev)
    # compute: wall seconds summed over the variant run's committed manifests, rollouts rows, eval throughput
    tp = pq.read_table(ev / _file(ev, "throughput.parquet")).to_pandas().groupby("condition")
    for cond, variant in (("joint", "joint"), ("joint_reflect", "joint"), ("planner_rl", "planner_rl")):
        mans = _manifests(root / f"ablation-s0-{variant}")
        assert summary[cond]["train_s"] == pytest.approx(sum(m["summary"]["wall_s"] for m in mans))
        rollouts = sum(f["rows"] for m in mans for f in m["files"] if f["kind"] == "rollouts")
        assert summary[cond]["train_videos"] == rollouts > 0 and summary[cond]["rl_steps"] == 1
        g = tp.get_group(cond)
        assert summary[cond]["eval_s"] == pytest.approx(float((g.generation_s + g.planning_s).sum()))
    setup = _manifests(root / "ablation-s0-base" / "checkpoints") + _manifests(
        root / "ablation-s0-base" / "step=000000" / "instructions"
    )
    assert summary["global"]["bootstrap_s"] == pytest.approx(sum(m["summary"]["wall_s"] for m in setup))
    assert summary["global"]["train_s"] == 0 and summary["global"]["rl_steps"] == 0
    assert summary["joint"]["reference"] == 0.418 and summary["joint_reflect"]["reference"] is None


def _file(art: Path, name: str) -> str:
    return next(f["path"] for f in _manifest(art)["files"] if f["name"] == name)


def test_rerun_piped_through_cat_starts_no_stage(ablation):
    root, _ = ablation
    before = sorted(str(p) for p in root.rglob("_manifest.json"))
    cmd = " ".join([f"'{sys.executable}'", "-m", "plotline.cli", *(f"'{a}'" for a in _args(root))])
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.getcwd()
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd} 2>&1 | cat"], capture_output=True, text=True, env=env, timeout=300
    )
    out = done.stdout
    assert done.returncode == 0, out
    assert sorted(str(p) for p in root.rglob("_manifest.json")) == before  # nothing new committed
    assert "0 stage(s) computed, 25 already committed" in out and "ablation artifact skipped" in out
    assert out.count(": skipped") == 25 and ": committed" not in out
    assert "\x1b[" not in out  # plain text off a terminal
    line = next(ln for ln in out.splitlines() if "joint, self-paced weights (`joint_self_paced`)" in ln)
    assert "…" not in line and line.count("│") >= 9  # whole row, every column


def test_eval_report_renders_the_ablation_artifact(ablation, tmp_path):
    root, _ = ablation
    art = root / "ablation" / "step=000000" / "ablation" / "v0000"
    shown = runner.invoke(root_app, ["eval", "report", str(art)])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# Method ablation")
    assert "| condition | TempAct | TF score [95 % CI] | Δ vs baseline [95 % CI] |" in shown.output
    assert shown.output.strip() == (art / _file(art, "report.md")).read_text().strip()
    out = tmp_path / "rep"
    written = runner.invoke(root_app, ["eval", "report", str(art), "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Method ablation" in written.output and "<table>" in (out / "report.html").read_text()


def test_bad_seeds_are_named(tmp_path):
    result = runner.invoke(root_app, ["eval", "ablation", "--seeds", "0,x", "--root", str(tmp_path)])
    assert result.exit_code == 2 and "'x' is not a seed" in result.output
