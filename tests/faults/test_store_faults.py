"""Store faults: a stalled S3 endpoint, a perturbed local cache, gc racing a live writer, a listed file deleted
before commit. Each probe asserts the clear error and that every committed artifact still validates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from plotline.store import CorruptArtifact, Manifest, RunStore, StorageConfig, StoreUnavailable
from plotline.store.fs import StoreFS
from plotline.store.tensors import tensors_to_bytes
from tests.faults.conftest import assert_run_valid

REPO = Path(__file__).resolve().parents[2]


def _manifest(store: RunStore, stage: str, writer) -> Manifest:
    return Manifest(
        run_id=store.run_id,
        stage=stage,
        step=0,
        version=0,
        code_version="test",
        config_hash="h",
        config_sections=[],
        input_digest="d",
        attempt=writer.attempt,
    )


def _commit_blob(store: RunStore, stage: str, files: dict[str, bytes]):
    writer = store.open_writer(stage, 0, store.next_version(stage, 0), f"attempt-{stage}", {})
    for name, data in files.items():
        writer.write_bytes(name, data)
    return store.commit(writer, _manifest(store, stage, writer))


def _s3(bucket: str, endpoint: str, tmp_path: Path, **s3) -> StorageConfig:
    return StorageConfig.model_validate(
        {"root": f"s3://{bucket}/runs", "cache_dir": str(tmp_path / "cache"), "s3": {"endpoint_url": endpoint, **s3}}
    )


def test_stalled_endpoint_fails_every_call_within_its_budget(s3_endpoint, s3_bucket, tmp_path, stalled_endpoint):
    good = _s3(s3_bucket, s3_endpoint, tmp_path, max_attempts=2)
    run = f"s3://{s3_bucket}/runs/stall"
    _commit_blob(RunStore(run, good), "probe", {"a.bin": b"committed before the stall"})  # moto: the normal path
    stalled = _s3(s3_bucket, stalled_endpoint.url, tmp_path, max_attempts=1, connect_timeout_s=0.3, read_timeout_s=0.3)
    fs = StoreFS(f"s3://{s3_bucket}/runs", stalled)
    calls = {
        "conditional put (run.json, manifests)": lambda: fs.create_exclusive("stall/run.json", b"{}"),
        "write": lambda: fs.write_bytes("stall/x", b"x"),
        "list": lambda: fs.list_dirs("stall"),
    }
    for what, call in calls.items():
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match=rf"endpoint {stalled_endpoint.url}.*1 attempt") as info:
            call()
        took = time.monotonic() - start
        # bounded: the deadline is 1 × (0.3 + 0.3) s + 1 s slack; the margin only absorbs a loaded machine (an
        # unbounded call hung for > 590 s before)
        assert took < fs.deadline_s + 15.0, (what, took)
        assert f"s3://{s3_bucket}/runs/stall" in str(info.value)
    assert stalled_endpoint.accepted >= len(calls)  # the calls really reached the stalled socket
    assert assert_run_valid(run, good) == 1


def test_stage_on_a_stalled_endpoint_fails_within_its_budget(tmp_path, stalled_endpoint):
    from plotline.config import load_config
    from stages.base import run_stage

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    cfg = load_config(
        ["configs/shapes.yaml"],
        [
            "storage.root=s3://bucket/runs",
            "storage.s3.max_attempts=1",
            f"storage.s3.endpoint_url={stalled_endpoint.url}",
            "storage.s3.connect_timeout_s=0.5",
            "storage.s3.read_timeout_s=0.5",
        ],
    )
    start = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"s3://bucket/runs/x.*endpoint {stalled_endpoint.url}"):
        run_stage("instructions", cfg, "s3://bucket/runs/x", 0, show_progress=False)
    assert time.monotonic() - start < 20.0  # deadline 2 s per call; the margin absorbs a loaded machine


def test_perturbed_cache_is_downloaded_again(s3_endpoint, s3_bucket, tmp_path):
    cfg = _s3(s3_bucket, s3_endpoint, tmp_path)
    store = RunStore(f"s3://{s3_bucket}/runs/cache", cfg)
    model = tensors_to_bytes({"w": torch.arange(64, dtype=torch.float32)})
    art = _commit_blob(
        store,
        "probe",
        {
            "model.safetensors": model,
            "adapter/adapter_model.safetensors": model,
            "adapter/adapter_config.json": b'{"r": 8}',
        },
    )
    path = Path(art.local_path("model.safetensors"))
    assert path.read_bytes() == model
    flipped = bytearray(model)
    flipped[-1] ^= 0xFF  # same size, different content (a bit flip or a hand edit)
    path.write_bytes(bytes(flipped))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert Path(art.local_path("model.safetensors")).read_bytes() == model  # fetched again, bad copy unused
    folder = Path(art.local_dir("adapter"))
    (folder / "adapter_model.safetensors").write_bytes(bytes(flipped))
    (folder / "stray.bin").write_bytes(b"not listed")
    folder = Path(art.local_dir("adapter"))
    assert (folder / "adapter_model.safetensors").read_bytes() == model and not (folder / "stray.bin").exists()
    assert assert_run_valid(store.uri, cfg) == 1


KILLED_WRITER = textwrap.dedent("""
    import sys
    from plotline.store import RunStore, StorageConfig
    store = RunStore(sys.argv[1], StorageConfig(lease_s=1.0))
    w = store.open_writer("probe", 0, 0, "attempt-killed", {})
    w.write_bytes("groups/g00000.bin", b"x" * 100)
    print("READY", flush=True)
    sys.stdin.readline()
""")


def test_gc_spares_a_live_writer_and_deletes_an_expired_one(tmp_path):
    from typer.testing import CliRunner

    from plotline.cli import app

    runner = CliRunner()
    run = str(tmp_path / "runs" / "gc")
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    dead = subprocess.Popen(
        [sys.executable, str(script), run],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        store = RunStore(run, StorageConfig(lease_s=30.0))
        live = store.open_writer("probe", 0, 1, "attempt-live", {})  # renews its lease from a thread
        live.write_bytes("groups/g00000.bin", b"x" * 100)
        assert dead.stdout.readline().strip() == "READY"
        os.kill(dead.pid, signal.SIGKILL)  # its lease is no longer renewed
        dead.wait(10)
        deadline = time.monotonic() + 15
        while not store.expired_garbage() and time.monotonic() < deadline:  # the dead lease expires after 1 s
            time.sleep(0.2)
        out = runner.invoke(app, ["gc", "--run", run, "--delete"])
        assert out.exit_code == 0, out.output
        assert "spared (live writer" in out.output and "1 uncommitted attempt folder(s) deleted" in out.output
        assert not list(Path(run).rglob("attempt-killed*"))  # the dead attempt's folder and lease are gone
        live.write_bytes("groups/g00001.bin", b"y" * 100)
        art = store.commit(live, _manifest(store, "probe", live).model_copy(update={"version": 1}))
        assert art.files == ["groups/g00000.bin", "groups/g00001.bin"]  # nothing was deleted under it
        assert not list(Path(run).rglob("*.lease"))  # released at commit
        assert assert_run_valid(run) == 1
    finally:
        if dead.poll() is None:
            dead.kill()
            dead.wait(10)


def test_commit_refuses_a_listed_file_that_is_gone(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "gone"))
    _commit_blob(store, "kept", {"a.bin": b"fine"})
    writer = store.open_writer("probe", 0, 0, "attempt-x", {})
    writer.write_bytes("groups/g00000.safetensors", tensors_to_bytes({"x": torch.zeros(3)}))
    writer.write_bytes("groups/g00001.safetensors", tensors_to_bytes({"x": torch.ones(3)}))
    os.remove(Path(store.fs.full(writer.attempt_prefix)) / "groups" / "g00000.safetensors")  # e.g. an old gc
    with pytest.raises(CorruptArtifact, match=r"refusing to commit .*groups/g00000.safetensors is missing"):
        store.commit(writer, _manifest(store, "probe", writer))
    assert store.versions("probe", 0) == []
    assert assert_run_valid(store.uri) == 1
