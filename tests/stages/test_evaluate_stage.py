"""The evaluate stage on a local store with the tiny executor: every mode, two subsets with their own geometry,
an in-domain judge and a failing out-of-domain judge, the aesthetic stand-in, throughput, the report, paired
noise across conditions, checkpoints from committed update artifacts, and nothing committed on failure."""

from __future__ import annotations

import pytest
import torch

from data_contracts import validate
from plotline.config import load_config
from plotline.config import with_sections as extend
from plotline.eval.config import EvalConfig
from plotline.net import free_port
from plotline.store import RunStore, StorageConfig
from plotline.store.manifest import Manifest
from stages.base import run_stage

torch.set_num_threads(1)
TINY = [
    "video.target_latent_frames=6",
    "video.latent_frames_per_step=3",
    "video.switch_frames=[3]",
    "rewards.frames.temporal_num_frames=6",
    "executor.sampled_frames=6",  # at most the 6 frames a video has
    "executor.latent_height=8",
    "executor.latent_width=8",
    "executor.fps=4",
    "world.num_eval_instructions=3",
    "planner.max_new_tokens=12",
    "planner.batch_size=8",
]


@pytest.fixture(scope="module")
def tiny_planner_dir(tmp_path_factory):
    from plotline.tiny.lm import build_tiny_qwen3

    return str(build_tiny_qwen3(tmp_path_factory.mktemp("planner") / "base"))


def _config(tmp_path, eval_cfg: dict, *extra):
    cfg = load_config(overrides=[*TINY, *extra])
    cfg.storage = StorageConfig(root=str(tmp_path / "runs"))
    return extend(cfg, eval=EvalConfig.model_validate(eval_cfg))


def test_modes_subsets_judges_report_and_paired_noise(tmp_path, tiny_planner_dir):
    prompts = tmp_path / "simple.csv"
    prompts.write_text(
        'prompt,category\n"A red square moves to the right, then turns blue.",object\n'
        '"A green circle grows and then disappears.",object\n'
    )
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = _config(
        tmp_path,
        {
            "subsets": [
                {"name": "world", "source": "world"},
                {"name": "simple", "source": "file", "path": str(prompts), "num_steps": 3},
            ],
            "conditions": [
                {"name": "global", "mode": "global"},
                {"name": "global2", "mode": "global"},
                {"name": "planner", "mode": "planner"},
                {"name": "smooth", "mode": "planner_smooth"},
                {"name": "oracle", "mode": "steps_smooth"},
            ],
            "judges": [
                {"name": "world", "backend": "programmatic"},
                {
                    "name": "ood",
                    "backend": "openai",
                    "role": "out_of_domain",
                    "model": "vlm",
                    "openai": {"base_url": dead, "max_retries": 0, "timeout_s": 2},
                },
            ],
            "batch_size": 2,
        },
        f"planner.base_model={tiny_planner_dir}",
    )
    run = str(tmp_path / "runs" / "ev")
    out = run_stage("evaluate", cfg, run, 0, show_progress=False)
    art = out.artifact
    videos = art.read_table("videos.parquet").to_pylist()
    assert len(videos) == 5 * (3 + 2)
    by = {(v["condition"], v["subset"], v["prompt_id"]): v for v in videos}
    world0 = next(v for v in videos if v["subset"] == "world")["prompt_id"]
    simple0 = next(v for v in videos if v["subset"] == "simple")
    assert simple0["num_steps"] == 3 and simple0["latent_frames"] == 9 and len(simple0["span_prompts"]) == 3
    assert by[("global", "world", world0)]["num_steps"] == 2 and by[("global", "world", world0)]["latent_frames"] == 6
    assert by[("planner", "world", world0)]["plan_status"] in ("ok", "truncated", "padded", "unparsed")
    oracle = by[("oracle", "world", world0)]
    assert oracle["span_prompts"][0].startswith(oracle["gt_steps"][0])  # smoothed ground-truth steps
    # same noise per prompt for every condition: identical conditioning gives identical videos
    assert art.read_bytes(by[("global", "world", world0)]["video_path"]) == art.read_bytes(
        by[("global2", "world", world0)]["video_path"]
    )
    assert art.read_bytes(by[("global", "world", world0)]["video_path"]) != art.read_bytes(
        by[("oracle", "world", world0)]["video_path"]
    )

    results = art.read_table("results.parquet")
    assert validate("eval_results", results).success
    rows = results.to_pylist()
    world_scores = [r for r in rows if r["judge"] == "world" and r["metric"] == "score"]
    assert len(world_scores) == 25 and all(r["status"] in ("ok", "repaired") for r in world_scores)
    ood = [r for r in rows if r["judge"] == "ood"]
    assert ood and all(r["status"] == "unscored" and r["value"] is None and "connection" in r["reason"] for r in ood)
    assert len([r for r in rows if r["judge"] == "image_stats"]) == 25
    replies = art.read_table("judge_replies.parquet").to_pylist()
    assert len(replies) == 50 and all(r["raw"] for r in replies if r["score_id"].startswith("world:"))

    throughput = art.read_table("throughput.parquet").to_pylist()
    assert len(throughput) == 10 and all(t["videos_per_s"] > 0 and t["latent_frames_per_s"] > 0 for t in throughput)
    planner_rows = [t for t in throughput if t["condition"] == "planner"]
    assert all(t["planning_s"] > 0 for t in planner_rows)

    md = art.read_bytes("report.md").decode()
    assert "## Comparison" in md and "world · ood (out-of-domain)" in md and "## Throughput" in md
    assert "| ood | global | 5 | 5 |" in md  # judge failure counts
    assert {"plots/tf_score.png", "report.html", "report.json"} <= set(art.files)
    summary = out.manifest.summary
    assert summary["unscored"]["ood"] == 25 and summary["baseline"] == "global"
    assert run_stage("evaluate", cfg, run, 0, show_progress=False).status == "skipped"


def _fake_update_executor(store: RunStore, step: int, cfg) -> str:
    """Commit an update_executor artifact holding a LoRA adapter with non-zero weights (what RL would write)."""
    from plotline.executor.executor import build_executor
    from plotline.executor.lora import attach_lora, save_adapter

    ex = build_executor(cfg.executor, cfg.video)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        peft = attach_lora(ex.model, 4, 4.0, ["q", "k", "v", "o"])
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)
    version = store.next_version("update_executor", step)
    writer = store.open_writer("update_executor", step, version, "attempt-test", {})
    folder = store.fs.full(f"{store.run_id}/tmp-adapter")
    save_adapter(peft, folder, ex.backbone, "fake")
    writer.write_dir("adapter", folder)
    store.fs.remove_tree(f"{store.run_id}/tmp-adapter")
    art = store.commit(
        writer,
        Manifest(
            run_id=store.run_id,
            stage="update_executor",
            step=step,
            version=version,
            code_version="test",
            config_hash="h",
            config_sections=[],
            input_digest="d",
            attempt="attempt-test",
        ),
    )
    return art.uri


def test_checkpoints_come_from_committed_update_artifacts(tmp_path):
    base_cfg = _config(tmp_path, {})
    run = str(tmp_path / "runs" / "ck")
    store = RunStore(run)
    store.ensure_run_file({}, "test")
    uri = _fake_update_executor(store, 1, base_cfg)
    cfg = _config(
        tmp_path,
        {
            "subsets": [{"name": "world", "source": "world", "limit": 2}],
            "conditions": [
                {"name": "base", "mode": "steps"},
                {"name": "trained", "mode": "steps", "checkpoint": "step=1"},
            ],
            "judges": [{"name": "world"}],
            "aesthetic": "none",
            "write_videos": False,
        },
    )
    out = run_stage("evaluate", cfg, run, 1, show_progress=False)
    videos = out.artifact.read_table("videos.parquet").to_pylist()
    assert {v["executor_source"] for v in videos if v["condition"] == "trained"} == {uri}
    assert {v["executor_source"] for v in videos if v["condition"] == "base"} == {"none"}
    assert all(v["video_path"] is None for v in videos)
    ck = out.manifest.summary["checkpoints"]
    assert ck["trained"]["executor"] == uri and ck["base"]["manifests"] == {}
    assert ck["trained"]["manifests"] == {"executor": store.latest("update_executor", 1).manifest.manifest_id}
    scores = {
        (r["condition"], r["prompt_id"]): r["value"]
        for r in out.artifact.read_table("results.parquet").to_pylist()
        if r["metric"] == "frame_mean"
    }
    assert len(scores) == 4
    keys = {r["rollout_id"]: r["cache_key"] for r in out.artifact.read_table("judge_replies.parquet").to_pylist()}
    pid = videos[0]["prompt_id"]
    assert keys[f"base/world/{pid}"] != keys[f"trained/world/{pid}"]  # the adapter changed the frames judged

    # a checkpoint that does not exist fails the stage, and nothing is committed
    bad = _config(tmp_path, {"conditions": [{"name": "x", "mode": "global", "checkpoint": "step=7"}]})
    with pytest.raises(Exception, match="no committed update output"):
        run_stage("evaluate", bad, run, 2, show_progress=False)
    assert not store.versions("evaluate", 2)
