"""The one worker entry point and spec type: a registered job runs in shard processes from its spec; sections and
inputs round-trip exactly; bad specs and failures are reported. (`accelerate launch` of the same entry point is
exercised by the update stages' distributed tests, tests/stages/test_update_*_distributed.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import parallel_jobs  # noqa: F401 - registers the test job kinds in this process
import pytest

from plotline.executor.prompts import PlanTooShort
from plotline.parallel import jobs, launch, worker
from plotline.parallel.spec import WorkerSpec, read_spec
from plotline.video import VideoConfig

HERE = str(Path(__file__).resolve().parent)
VIDEO = VideoConfig()
INPUTS = {"x": 0.1 + 0.2, "tiny": 5e-324, "paths": ["/a/b.parquet"], "none": None}


@pytest.fixture
def job_path(monkeypatch):
    """Worker processes import the test job module from this folder."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    )


def _echo_spec(out_dir: Path) -> WorkerSpec:
    return jobs.job_spec("test_echo", sections={"video": VIDEO}, inputs=INPUTS, out_dir=str(out_dir))


def test_job_spec_records_the_registering_module_and_dumps_sections():
    spec = _echo_spec(Path("/tmp/out"))
    assert (spec.kind, spec.module) == ("test_echo", "parallel_jobs")
    assert spec.sections == {"video": VIDEO.model_dump(mode="json")}
    assert (spec.shard, spec.num_shards, spec.device, spec.launcher) == (0, 1, "cpu", "process")
    with pytest.raises(KeyError, match=r"unknown worker job kind 'nope'; registered: \[.*'test_echo'"):
        jobs.job_spec("nope", sections={}, inputs={}, out_dir="/tmp")


def test_a_kind_registered_twice_by_another_function_is_refused():
    def echo(ctx):
        return None

    with pytest.raises(ValueError, match="job kind 'test_echo' is already registered by parallel_jobs.echo"):
        jobs.register_job("test_echo")(echo)


def test_the_context_names_a_missing_section_or_input():
    ctx = jobs.WorkerContext(_echo_spec(Path("/tmp/out")), None, "cpu")
    assert ctx.section("video", VideoConfig) == VIDEO
    with pytest.raises(
        ValueError,
        match=r"worker job 'test_echo': the spec has no config section 'planner' "
        r"\(it has \['video'\]\)",
    ):
        ctx.section("planner", VideoConfig)
    with pytest.raises(ValueError, match="worker job 'test_echo': config section 'video'"):
        ctx.section("video", VideoConfig, fps="fast")
    with pytest.raises(KeyError, match="worker job 'test_echo': the spec has no input 'seed'"):
        ctx.input("seed")


def test_two_cpu_shards_run_the_job_and_return_results_in_shard_order(tmp_path, job_path):
    specs = [_echo_spec(tmp_path / "out"), _echo_spec(tmp_path / "out")]
    results = launch.run_shards(specs, [None, None], tmp_path / "work", what="echo", timeout_s=300)
    assert [r["shard"] for r in results] == [0, 1]
    for r in results:
        assert (r["num_shards"], r["device"], r["launcher"], r["cuda_visible"]) == (2, "cpu", "process", "")
        assert r["threads"] == launch.worker_threads(2)
        assert VideoConfig.model_validate(r["video"]) == VIDEO  # the section round-trips
        assert r["inputs"] == INPUTS and r["inputs"]["x"] == 0.1 + 0.2  # floats round-trip exactly
        assert (r["world_size"], r["rank_sum"]) == (1, 1.0)  # a shard process has the identity collective
    written = read_spec(tmp_path / "work" / "spec1.json")
    assert (written.shard, written.workdir) == (1, str(tmp_path / "work"))


def test_a_failing_shard_raises_its_own_error_class(tmp_path, job_path):
    spec = jobs.job_spec("test_fail_on_shard_1", sections={}, inputs={"plan": "i1/p1"}, out_dir=str(tmp_path))
    with pytest.raises(PlanTooShort, match="plan i1/p1 has 1 step prompts") as info:
        launch.run_shards([spec, spec], [None, None], tmp_path / "work", what="failing", timeout_s=300)
    assert info.value.__notes__ == ["raised in failing rank 1"]


def test_an_invalid_spec_is_reported_naming_the_file_and_field(tmp_path, monkeypatch):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"module": "parallel_jobs", "out_dir": "/tmp", "workdir": str(tmp_path), "shard": -1}))
    exits = []
    monkeypatch.setattr(worker.os, "_exit", lambda code: exits.append(code))
    monkeypatch.setenv("RANK", "0")
    worker.main(["worker", str(path)])
    assert exits == [1]
    rec = launch.read_json(tmp_path / "errors" / "rank0.json")
    assert rec["type"] == "builtins.ValueError" and f"worker spec {path}" in rec["message"]
    assert "kind" in rec["message"] and "shard" in rec["message"]
    with pytest.raises(ValueError, match=f"worker spec {path}"):
        launch.raise_failure(tmp_path, "bad", 1)


def test_a_spec_whose_module_does_not_register_its_kind_is_refused():
    spec = WorkerSpec(kind="test_echo", module="plotline.parallel.spec", out_dir="/tmp")
    with pytest.raises(
        ValueError, match="job kind 'test_echo' is registered by parallel_jobs, not plotline.parallel.spec"
    ):
        worker.run_spec(spec)


def test_the_four_job_sets_register_with_the_one_worker_entry_point():
    import importlib

    expected = {
        "plan_shard": "plotline.planner.sharding",
        "rollout_shard": "plotline.executor.sharding",
        "planner_update": "plotline.planner.gspo_job",
        "executor_update": "plotline.rl.flow_grpo_job",
    }
    for module in expected.values():
        importlib.import_module(module)
    assert {k: jobs.get_job(k).module for k in expected} == expected
    # no library module carries its own process entry point besides the worker and the CLI roof
    root = Path(jobs.__file__).resolve().parents[1]
    mains = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "__main__" in p.read_text())
    assert mains == ["cli/main.py", "parallel/worker.py"]
