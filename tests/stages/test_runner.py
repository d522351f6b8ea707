"""Stage runner + store, on a local folder and on a real S3 endpoint (moto on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from data_contracts import ContractViolation
from plotline.config import load_config
from plotline.store import AlreadyCommitted, CorruptArtifact, MissingInput, RunStore, StoreUnavailable
from plotline.store.fs import StoreFS
from stages.base import InputSpec, StageSpec, register, run_stage

REPO = Path(__file__).resolve().parents[2]
HOOKS: dict = {}


def _produce(ctx):
    instr = ctx.inputs["instructions"].read_table("instructions.parquet")
    rows = [
        {"role": "planner", "iteration": i, "metric": "reward_mean", "value": float(v)}
        for i, v in enumerate(HOOKS.get("values", [0.25, 0.5]))
    ]
    ctx.output.write_table("metrics.parquet", "update_metrics", rows)
    ctx.output.write_tensors(
        "weights.safetensors", {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, metadata={"note": "test"}
    )
    ctx.output.write_bytes("videos/clip.bin", b"\x00\x01" * 10)
    ctx.output.summary["instructions"] = instr.num_rows
    if "barrier" in HOOKS:
        HOOKS["barrier"].wait(timeout=30)


register(
    StageSpec(
        name="test_produce",
        summary="test stage",
        outputs=("update_metrics",),
        inputs=(
            InputSpec("instructions", stage="instructions", fixed_step=0),
            InputSpec("previous", stage="test_produce", step_offset=-1),
        ),
        config_sections=("rl.planner", "seed"),
        run=_produce,
    )
)


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text(
        'prompt,category\n"a red ball rolls left, then bounces",object\n"first a dog sits, then runs",animal\n'
    )
    return path


def make_config(storage, prompts, *extra):
    cfg = load_config(overrides=["data.source=file", f"data.path={prompts}", *extra])
    cfg.storage = storage
    return cfg


def test_round_trip_lineage_skip_and_force(store_root, prompts):
    root, storage = store_root
    cfg = make_config(storage, prompts)
    run = f"{root}/demo"
    first = run_stage("instructions", cfg, run, 0, show_progress=False)
    assert first.status == "committed" and first.manifest.version == 0
    produced = run_stage("test_produce", cfg, run, 0, show_progress=False)
    m = produced.manifest
    # manifest content (DESIGN §8)
    assert m.run_id == "demo" and m.stage == "test_produce" and m.step == 0 and m.code_version
    assert [i.key for i in m.inputs] == ["instructions"] and m.inputs[0].manifest_id == first.manifest.manifest_id
    files = {f.name: f for f in m.files}
    assert files["metrics.parquet"].rows == 2 and files["metrics.parquet"].kind == "update_metrics"
    assert files["metrics.parquet"].schema_version == 1 and len(files["weights.safetensors"].sha256) == 64
    assert m.validation[0]["success"] is True
    # verified reads; safetensors carry run id and lineage
    art = RunStore(run, storage).latest("test_produce", 0)
    assert art.read_table("metrics.parquet").column("value").to_pylist() == [0.25, 0.5]
    assert torch.equal(art.read_tensors("weights.safetensors")["w"], torch.arange(6.0).reshape(2, 3))
    meta = art.tensor_metadata("weights.safetensors")
    assert (
        meta["plotline.run_id"] == "demo" and meta["plotline.lineage"] == f"instructions={first.manifest.manifest_id}"
    )
    assert meta["note"] == "test"
    assert art.read_bytes("videos/clip.bin") == b"\x00\x01" * 10
    assert Path(art.local_path("videos/clip.bin")).read_bytes() == b"\x00\x01" * 10
    # same inputs + config -> skipped; force -> new version beside the old one
    again = run_stage("test_produce", cfg, run, 0, show_progress=False)
    assert again.status == "skipped" and again.manifest.manifest_id == m.manifest_id
    forced = run_stage("test_produce", cfg, run, 0, force=True, show_progress=False)
    assert forced.status == "committed" and forced.manifest.version == 1
    store = RunStore(run, storage)
    assert store.versions("test_produce", 0) == [0, 1]
    assert store.artifact("test_produce", 0, 0).manifest.manifest_id == m.manifest_id
    # a config change in a covered section is a new version; an uncovered section is not
    assert (
        run_stage(
            "test_produce", make_config(storage, prompts, "executor.num_continuations=2"), run, 0, show_progress=False
        ).status
        == "skipped"
    )
    changed = run_stage(
        "test_produce", make_config(storage, prompts, "rl.planner.clip=0.01"), run, 0, show_progress=False
    )
    assert changed.status == "committed" and changed.manifest.version == 2
    # next step links the previous step's output
    nxt = run_stage("test_produce", cfg, run, 1, show_progress=False)
    assert {i.key: (i.step, i.version) for i in nxt.manifest.inputs} == {"instructions": (0, 0), "previous": (0, 2)}
    assert json.loads(store.fs.read_bytes("demo/run.json"))["run_id"] == "demo"


def test_missing_input_names_stage_and_step(store_root, prompts):
    root, storage = store_root
    with pytest.raises(MissingInput, match=r"'instructions' at step 0 .*plotline stage instructions"):
        run_stage("test_produce", make_config(storage, prompts), f"{root}/r", 0, show_progress=False)


def test_contract_violation_commits_nothing(store_root, prompts):
    root, storage = store_root
    cfg = make_config(storage, prompts)
    run_stage("instructions", cfg, f"{root}/r", 0, show_progress=False)
    HOOKS["values"] = [0.1, float("nan")]
    try:
        with pytest.raises(ContractViolation, match=r"(?s)metrics\.parquet.*_nonfinite_values"):
            run_stage("test_produce", cfg, f"{root}/r", 0, show_progress=False)
    finally:
        HOOKS.pop("values")
    store = RunStore(f"{root}/r", storage)
    assert store.versions("test_produce", 0) == [] and store.garbage() == []


def test_tampered_or_missing_file_is_detected(store_root, prompts):
    root, storage = store_root
    cfg = make_config(storage, prompts)
    art = run_stage("instructions", cfg, f"{root}/r", 0, show_progress=False).artifact
    entry = art.manifest.file("instructions.parquet")
    rel = f"{art.prefix}/{entry.path}"
    art.fs.write_bytes(rel, art.fs.read_bytes(rel) + b"x")
    with pytest.raises(CorruptArtifact, match=r"instructions\.parquet does not match its manifest"):
        art.read_table("instructions.parquet")
    art.fs.remove_tree(rel)
    with pytest.raises(CorruptArtifact, match="listed in the manifest but missing"):
        art.read_table("instructions.parquet")


def test_racing_writers_exactly_one_commits(store_root, prompts):
    root, storage = store_root
    cfg = make_config(storage, prompts)
    run = f"{root}/race"
    run_stage("instructions", cfg, run, 0, show_progress=False)
    HOOKS["barrier"] = threading.Barrier(2)
    results: list = []

    def go():
        try:
            results.append(run_stage("test_produce", cfg, run, 0, show_progress=False))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        HOOKS.pop("barrier")
    committed = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(committed) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], AlreadyCommitted) and "committed by another writer first" in str(lost[0])
    store = RunStore(run, storage)
    assert store.versions("test_produce", 0) == [0]
    assert store.latest("test_produce", 0).read_table("metrics.parquet").num_rows == 2
    assert store.garbage() == []  # the loser removed its attempt


KILLED_STAGE = textwrap.dedent("""
    import sys, time
    from plotline.config import load_config
    from stages.base import StageSpec, register, run_stage

    def slow(ctx):
        ctx.output.write_bytes("part-1.bin", b"half")
        print("WROTE", flush=True)
        time.sleep(120)
        ctx.output.write_bytes("part-2.bin", b"never")

    register(StageSpec(name="test_slow", summary="", inputs=(), outputs=(), config_sections=(), run=slow))
    run_stage("test_slow", load_config(), sys.argv[1], 0, show_progress=False)
""")


def test_killed_writer_leaves_nothing_committed(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(KILLED_STAGE)
    run = str(tmp_path / "runs" / "k")
    proc = subprocess.Popen([sys.executable, str(script), run], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WROTE"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = RunStore(run)
    assert store.versions("test_slow", 0) == [] and store.latest("test_slow", 0) is None
    garbage = store.garbage()
    assert len(garbage) == 1 and "/v0000/attempt-" in garbage[0]


def test_unreachable_s3_endpoint_fails_with_the_url_after_bounded_retries(tmp_path):
    from plotline.net import free_port
    from plotline.store import StorageConfig

    port = free_port()  # nothing listens here
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    storage = StorageConfig.model_validate(
        {
            "root": "s3://bucket/runs",
            "s3": {
                "endpoint_url": f"http://127.0.0.1:{port}",
                "max_attempts": 2,
                "connect_timeout_s": 0.5,
                "read_timeout_s": 1,
            },
        }
    )
    with pytest.raises(StoreUnavailable, match=rf"s3://bucket/runs/x.*127\.0\.0\.1:{port}.*2 attempt"):
        StoreFS("s3://bucket/runs", storage).read_bytes("x/run.json")


def _wrong_schema(ctx):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"instruction_id": ["a"], "prompt": [1]}), buf)
    # bypasses write_table on purpose: simulates a file produced by a foreign or buggy writer
    ctx.output.write_bytes("instructions.parquet", buf.getvalue(), kind="instructions", rows=1)


register(
    StageSpec(
        name="test_wrong_schema",
        summary="",
        inputs=(),
        outputs=("instructions",),
        config_sections=(),
        run=_wrong_schema,
    )
)


def test_committed_file_with_wrong_schema_is_rejected_on_read_and_by_validate(tmp_path):
    from typer.testing import CliRunner

    from plotline.cli import app

    art = run_stage("test_wrong_schema", load_config(), str(tmp_path / "runs" / "w"), 0, show_progress=False).artifact
    with pytest.raises(
        CorruptArtifact, match=r"instructions\.parquet: schema differs from the 'instructions' contract"
    ):
        art.read_table("instructions.parquet")
    result = CliRunner().invoke(app, ["validate", art.uri])
    assert result.exit_code == 1 and "schema differs" in result.output
