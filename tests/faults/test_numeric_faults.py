"""Numeric and config faults: non-finite config numbers, silent no-op group sizes and frame counts (refused
naming the keys), non-finite advantages and adapters in the real update stages (refused naming the plan or the
file), and `validate` on a committed non-finite adapter."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from plotline.cli import app
from plotline.config import ConfigError, load_config
from plotline.rl.finite import NonFiniteError
from plotline.store import RunStore
from plotline.store.manifest import FileEntry
from plotline.store.tensors import NonFiniteTensor, tensors_to_bytes
from plotline.store.verify import verify_artifact
from stages.base import run_stage
from tests.faults.conftest import assert_run_valid

runner = CliRunner()
SHAPES = ["--config", "configs/shapes.yaml"]


@pytest.mark.parametrize(
    "override,named",
    [
        ("rl.planner.learning_rate=.inf", "'rl.planner.learning_rate': Input should be a finite number"),
        ("rewards.weights.plan_judge.faithfulness_score=.nan", "'rewards.weights.plan_judge.faithfulness_score'"),
        ("planner.num_plans=1", "planner.num_plans=1"),
        ("executor.num_continuations=1", "executor.num_continuations=1"),
        ("rewards.frames.temporal_num_frames=100", "rewards.frames.temporal_num_frames=100 is more than the video has"),
        ("executor.sampled_frames=100", "executor.sampled_frames=100 is more than the video has"),
        ("rl.executor.train_transitions=10", "rl.executor.train_transitions=10 is more than the 4 denoising"),
        ("run_name=../../x", "'run_name'"),
    ],
)
def test_bad_config_is_refused_naming_the_key(override, named):
    out = runner.invoke(app, ["config", "show", *SHAPES, "--set", override])
    assert out.exit_code == 2, out.output
    assert named in out.output and "Traceback" not in out.output


def test_a_role_switched_off_may_have_a_group_of_one():
    stages = "orchestration.step_stages=[plan,rollout,score,advantage,update_executor]"
    assert load_config(["configs/shapes.yaml"], ["planner.num_plans=1", stages]).planner.num_plans == 1
    with pytest.raises(ConfigError, match="remove it there to state that the executor is not trained"):
        load_config(["configs/shapes.yaml"], ["executor.num_continuations=1", stages])


def _doctored_advantages(run: str) -> None:
    """Commit a new advantage version whose planner advantage for one plan is NaN (written past the contract, as
    a corrupt or hand-made artifact would be)."""
    store = RunStore(run)
    good = store.latest("advantage", 0)
    rows = good.read_table("advantages.parquet").to_pylist()
    victim = next(r for r in rows if r["role"] == "planner" and r["keep"])
    victim["advantage"] = float("nan")
    schema = good.read_table("advantages.parquet").schema
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    version = store.next_version("advantage", 0)
    writer = store.open_writer("advantage", 0, version, "attempt-doctored", {})
    writer.write_bytes("advantages.parquet", buf.getvalue().to_pybytes(), kind="advantages", rows=len(rows))
    store.commit(
        writer,
        good.manifest.model_copy(
            update={"version": version, "manifest_id": "", "attempt": writer.attempt, "validation": []}
        ),
    )
    return victim["plan_id"]


def test_nan_planner_advantage_is_refused_naming_the_plan(run_copy):
    cfg, run = run_copy
    plan_id = _doctored_advantages(run)
    with pytest.raises(NonFiniteError, match=rf"non-finite advantage for plan\(s\) {plan_id}"):
        run_stage("update_planner", cfg, run, 0, show_progress=False)
    assert RunStore(run).versions("update_planner", 0) == []


@pytest.mark.parametrize(
    "stage,module", [("update_planner", "plotline.planner.gspo_job"), ("update_executor", "plotline.rl.flow_grpo_job")]
)
def test_a_non_finite_adapter_is_never_committed(run_copy, monkeypatch, stage, module):
    import importlib

    cfg, run = run_copy
    job = importlib.import_module(module)
    real = job.save_adapter

    def blown_up(model, *args, **kwargs):  # a training step that diverged: every LoRA weight NaN
        peft = getattr(model, "model", model)
        with torch.no_grad():
            for p in peft.parameters():
                if p.requires_grad:
                    p.fill_(float("nan"))
        return real(model, *args, **kwargs)

    monkeypatch.setattr(job, "save_adapter", blown_up)
    with pytest.raises(NonFiniteTensor, match=r"adapter/adapter_model.safetensors: refusing non-finite tensors"):
        run_stage(stage, cfg, run, 0, show_progress=False)
    assert RunStore(run).versions(stage, 0) == []
    assert_run_valid(run)


def test_validate_flags_a_committed_non_finite_adapter(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "nan"))
    writer = store.open_writer("update_planner", 0, 0, "attempt-old", {})
    blob = tensors_to_bytes({"lora_A": torch.full((2, 2), float("nan"))})
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(blob)
    with pytest.raises(NonFiniteTensor):
        writer.write_dir("adapter", str(tmp_path / "adapter"))
    # an artifact committed before this check existed: written past the writer's check
    rel = f"{writer.attempt_prefix}/adapter/adapter_model.safetensors"
    store.fs.write_bytes(rel, blob)
    from plotline.store.artifact import sha256_bytes

    writer.files.append(
        FileEntry(
            name="adapter/adapter_model.safetensors",
            path=rel.split("/v0000/", 1)[1],
            sha256=sha256_bytes(blob),
            bytes=len(blob),
        )
    )
    from tests.faults.test_store_faults import _manifest

    art = store.commit(writer, _manifest(store, "update_planner", writer))
    report = verify_artifact(art)
    assert not report.ok and "non-finite tensors (lora_A: 4 of 4 values non-finite)" in report.failures[0]
    out = runner.invoke(app, ["validate", art.uri])
    assert out.exit_code == 1 and "non-finite" in out.output and "Traceback" not in out.output
