"""Store reliability pieces on their own: the call deadline, manifest path confinement, attempt leases, the
verified cache memo, and non-finite tensors refused at write time."""

import json
import os
import time

import pytest
import torch

from plotline.store import RunStore, StorageConfig
from plotline.store.artifact import _VERIFIED, cached_copy_ok
from plotline.store.config import S3Config
from plotline.store.fs import StoreFS, call_deadline_s
from plotline.store.layout import split_run_uri
from plotline.store.manifest import FileEntry, check_inside_path
from plotline.store.tensors import NonFiniteTensor, nonfinite_report, tensors_to_bytes
from plotline.store.writer import lease_rel


def test_call_deadline_is_the_retry_budget():
    # 3 attempts × (2 + 5) s, plus backoff before retries 1 and 2 (1 s, 2 s), plus 1 s slack = 25 s
    assert call_deadline_s(S3Config(max_attempts=3, connect_timeout_s=2, read_timeout_s=5)) == pytest.approx(25.0)
    assert call_deadline_s(S3Config(max_attempts=1, connect_timeout_s=0.5, read_timeout_s=0.5)) == pytest.approx(2.0)
    # backoff is capped at 20 s per retry: 7 attempts → 1+2+4+8+16+20 = 51 s of backoff
    assert call_deadline_s(S3Config(max_attempts=7, connect_timeout_s=1, read_timeout_s=1)) == pytest.approx(
        14 + 51 + 1
    )


def test_transfers_extend_the_deadline_by_their_size(monkeypatch):
    import plotline.store.fs as fsmod

    seen = []
    monkeypatch.setattr(fsmod, "sync", lambda loop, fn, *a, timeout, **kw: seen.append(timeout) or b"")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    cfg = StorageConfig.model_validate(
        {
            "root": "s3://b/r",
            "s3": {
                "endpoint_url": "http://127.0.0.1:9",
                "max_attempts": 1,
                "connect_timeout_s": 0.5,
                "read_timeout_s": 0.5,
                "min_transfer_mb_s": 2.0,
            },
        }
    )
    fs = StoreFS("s3://b/r", cfg)
    fs.write_bytes("x", b"\0" * 3_000_000)  # 3 MB at 2 MB/s: 1.5 s on top of the 2 s deadline
    fs.read_bytes("x", size_hint=1_000_000)
    fs.create_exclusive("y", b"{}")
    fs.exists("x")
    assert seen == pytest.approx([3.5, 2.5, 2.0 + 2 / 2e6, 2.0])


@pytest.mark.parametrize("path", ["a.bin", "attempt-1/groups/g0.safetensors", "x..y/z"])
def test_inside_paths_pass(path):
    assert check_inside_path(path) == path


@pytest.mark.parametrize("path", ["", "/etc/hostname", "../x", "a/../../x", "a//b", "./a", "a/.", "c:/x", "a\\b"])
def test_escaping_paths_are_refused(path):
    with pytest.raises(ValueError, match="relative path inside its folder"):
        check_inside_path(path)
    with pytest.raises(ValueError):
        FileEntry(name="ok", path=path, sha256="0" * 64, bytes=0)


def test_run_uri_with_dotdot_is_refused():
    assert split_run_uri("runs/a/demo") == ("runs/a", "demo")
    for bad in ("runs/../../x", "s3://b/runs/../x", "../runs/x"):
        with pytest.raises(ValueError, match="'..' segment"):
            split_run_uri(bad)


def test_lease_is_renewed_while_live_and_released_at_abort(tmp_path):
    store = RunStore(str(tmp_path / "runs" / "lease"), StorageConfig(lease_s=0.8))
    w = store.open_writer("s", 0, 0, "attempt-a", {})
    path = tmp_path / "runs" / "lease" / lease_rel(w.version_prefix, w.attempt).split("/", 1)[1]
    first = json.loads(path.read_text())
    assert first["expires_at"] == pytest.approx(first["renewed_at"] + 0.8)
    deadline = time.monotonic() + 10
    while json.loads(path.read_text())["renewed_at"] == first["renewed_at"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["renewed_at"] > first["renewed_at"]  # the heartbeat renewed it
    assert store.expired_garbage() == [] and [p for p, _ in store.live_attempts()] == [w.attempt_prefix]
    assert store.garbage() == [w.attempt_prefix]  # uncommitted, but not deletable
    w.abort()
    assert not path.exists() and store.live_attempts() == []


def test_cache_memo_rehashes_a_rewritten_file(tmp_path):
    data = b"0123456789"
    import hashlib

    entry = FileEntry(name="f.bin", path="a/f.bin", sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    f = tmp_path / "f.bin"
    assert not cached_copy_ok(f, entry)  # missing
    f.write_bytes(data)
    assert cached_copy_ok(f, entry) and any(k[0] == str(f) for k in _VERIFIED)
    f.write_bytes(b"0123456788")  # same size, new content
    os.utime(f, ns=(time.time_ns(), f.stat().st_mtime_ns + 1_000_000))
    assert not cached_copy_ok(f, entry)
    f.write_bytes(b"short")
    assert not cached_copy_ok(f, entry)  # size differs: no hash needed


def test_non_finite_tensors_are_reported_and_refused(tmp_path):
    t = {"ok": torch.ones(3), "bad": torch.tensor([1.0, float("nan"), float("inf")]), "ids": torch.arange(3)}
    assert nonfinite_report(t) == ["bad: 2 of 3 values non-finite"]
    w = RunStore(str(tmp_path / "runs" / "nf")).open_writer("s", 0, 0, "attempt-a", {})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(tensors_to_bytes(t))
    with pytest.raises(
        NonFiniteTensor,
        match=r"adapter/adapter_model.safetensors: refusing non-finite tensors "
        r"\(bad: 2 of 3",
    ):
        w.write_dir("adapter", str(adapter))
    assert w.files == []
    (adapter / "adapter_model.safetensors").write_bytes(tensors_to_bytes({"ok": torch.ones(2)}))
    w.write_dir("adapter", str(adapter))  # finite weights pass
    assert [f.name for f in w.files] == ["adapter/adapter_model.safetensors"]
    w.abort()


def test_leases_and_garbage_on_s3(s3_endpoint, s3_bucket):
    cfg = StorageConfig.model_validate({"root": f"s3://{s3_bucket}/runs", "s3": {"endpoint_url": s3_endpoint}})
    store = RunStore(f"s3://{s3_bucket}/runs/lease", cfg)
    w = store.open_writer("s", 0, 0, "attempt-a", {})
    w.write_bytes("groups/g0.bin", b"x")
    orphan = store.open_writer("s", 0, 0, "attempt-b", {})  # a lease with no files yet
    assert store.garbage() == [w.attempt_prefix, orphan.attempt_prefix]
    assert store.expired_garbage() == [] and len(store.live_attempts()) == 2
    assert store.expired_garbage(now=time.time() + cfg.lease_s + 1) == [w.attempt_prefix, orphan.attempt_prefix]
    w.abort()
    orphan.abort()
    assert store.garbage() == []
