"""Writing one stage output attempt: files go into a private attempt folder; nothing is visible until commit."""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from plotline.store.artifact import sha256_bytes
from plotline.store.fs import StoreFS
from plotline.store.layout import MANIFEST_NAME
from plotline.store.manifest import FileEntry
from plotline.store.tensors import check_finite_blob, restamp_file, tensors_to_bytes

LEASE_SUFFIX = ".lease"


def lease_rel(version_prefix: str, attempt: str) -> str:
    """Root-relative path of an attempt's lease file (next to its folder, so it is never part of the artifact)."""
    return posixpath.join(version_prefix, attempt + LEASE_SUFFIX)


def lease_body(attempt: str, lease_s: float, now: float | None = None) -> bytes:
    """Content of a lease file: who holds the attempt and until when (epoch seconds)."""
    now = time.time() if now is None else now
    return json.dumps(
        {
            "attempt": attempt,
            "writer": f"{socket.gethostname()}:{os.getpid()}",
            "renewed_at": now,
            "expires_at": now + lease_s,
        }
    ).encode()


def _as_table(data: Any, schema: pa.Schema, source: str) -> pa.Table:
    try:
        if isinstance(data, pa.Table):
            return data
        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, schema=schema, preserve_index=False)
        if isinstance(data, Iterable):
            return pa.Table.from_pylist(list(data), schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, TypeError, ValueError) as exc:
        from data_contracts import CheckFailure, ContractViolation, ValidationReport

        report = ValidationReport(
            kind="?", rows=0, checks_run=1, failures=[CheckFailure("schema", None, f"cannot build the table: {exc}")]
        )
        raise ContractViolation(report, source) from exc
    raise TypeError(f"{source}: expected a pyarrow Table, pandas DataFrame or list of rows, got {type(data).__name__}")


class ArtifactWriter:
    """Collects the files of one attempt under `{version folder}/{attempt}/` with checksums for the manifest."""

    def __init__(
        self, fs: StoreFS, version_prefix: str, attempt: str, stamp: dict[str, str], lease_s: float | None = None
    ):
        self.fs = fs
        self.version_prefix = version_prefix
        self.attempt = attempt
        self.stamp = dict(stamp)  # metadata stamped into every safetensors file
        self.files: list[FileEntry] = []
        self.validation: list[dict] = []
        self.summary: dict[str, Any] = {}
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if lease_s is not None:
            self._start_lease(lease_s)

    # -- lease -----------------------------------------------------------------------------------------------
    def _start_lease(self, lease_s: float) -> None:
        """Write the lease, then renew it every lease_s/4 from a daemon thread until release()."""
        rel = lease_rel(self.version_prefix, self.attempt)
        self.fs.write_bytes(rel, lease_body(self.attempt, lease_s))

        def renew() -> None:
            while not self._stop.wait(lease_s / 4):
                try:
                    self.fs.write_bytes(rel, lease_body(self.attempt, lease_s))
                except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease; the next one retries
                    pass

        self._heartbeat = threading.Thread(target=renew, name=f"lease-{self.attempt}", daemon=True)
        self._heartbeat.start()

    def release(self) -> None:
        """Stop renewing and delete the lease (after commit or abort; best effort)."""
        if self._heartbeat is None:
            return
        self._stop.set()
        self._heartbeat.join(timeout=self.fs.deadline_s + 1)
        self._heartbeat = None
        try:
            self.fs.remove_tree(lease_rel(self.version_prefix, self.attempt))
        except Exception:  # noqa: BLE001 - an expired lease with no folder is garbage for gc
            pass

    @property
    def attempt_prefix(self) -> str:
        """Root-relative folder of this attempt's files."""
        return posixpath.join(self.version_prefix, self.attempt)

    def _check_name(self, name: str) -> str:
        norm = posixpath.normpath(name)
        if not name or norm.startswith("..") or name.startswith("/") or norm == MANIFEST_NAME or norm == ".":
            raise ValueError(f"invalid artifact file name {name!r}")
        if any(f.name == norm for f in self.files):
            raise ValueError(f"artifact file {norm!r} is written twice in one attempt")
        return norm

    def write_bytes(
        self,
        name: str,
        data: bytes,
        *,
        kind: str | None = None,
        rows: int | None = None,
        schema_version: int | None = None,
    ) -> FileEntry:
        """Store raw bytes under logical `name` and record checksum and size."""
        name = self._check_name(name)
        path = posixpath.join(self.attempt, name)
        self.fs.write_bytes(posixpath.join(self.version_prefix, path), data)
        entry = FileEntry(
            name=name,
            path=path,
            sha256=sha256_bytes(data),
            bytes=len(data),
            rows=rows,
            kind=kind,
            schema_version=schema_version,
        )
        self.files.append(entry)
        return entry

    def write_table(self, name: str, kind: str, data: Any, params: dict[str, Any] | None = None) -> FileEntry:
        """Validate `data` against the `kind` contract and write it as Parquet with the kind's exact schema.

        Raises data_contracts.ContractViolation (naming this file) without writing anything if a check fails.
        """
        from data_contracts import ContractViolation, get_kind, validate

        contract = get_kind(kind)
        source = posixpath.join(self.fs.url(self.version_prefix), name)
        table = _as_table(data, contract.schema, source)
        report = validate(kind, table, params)
        if not report.success:
            raise ContractViolation(report, source)
        table = table.cast(contract.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        entry = self.write_bytes(name, buf.getvalue(), kind=kind, rows=table.num_rows, schema_version=contract.version)
        self.validation.append({"file": entry.name, **report.summary(), "params": dict(params or {})})
        return entry

    def write_tensors(self, name: str, tensors: dict, metadata: dict[str, str] | None = None) -> FileEntry:
        """Store tensors as safetensors with run id, stage, step and lineage in the metadata."""
        meta = {**(metadata or {}), **self.stamp}
        return self.write_bytes(name, tensors_to_bytes(tensors, meta))

    def write_file(self, name: str, local_path: str) -> FileEntry:
        """Copy a local file into the artifact. Safetensors files (model weights, adapters) are re-stamped with run
        metadata and must be finite: NaN/inf raises NonFiniteTensor naming the file, and nothing is written."""
        if local_path.endswith(".safetensors"):
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, os.path.basename(local_path))
                shutil.copyfile(local_path, copy)
                restamp_file(copy, self.stamp)
                with open(copy, "rb") as fh:
                    data = fh.read()
                check_finite_blob(data, posixpath.join(self.fs.url(self.attempt_prefix), self._check_name(name)))
                return self.write_bytes(name, data)
        with open(local_path, "rb") as fh:
            return self.write_bytes(name, fh.read())

    def write_dir(self, prefix: str, local_dir: str) -> list[FileEntry]:
        """Copy every file below `local_dir` under logical `prefix/` (e.g. a peft adapter folder)."""
        entries = []
        for dirpath, _, filenames in sorted(os.walk(local_dir)):
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
                entries.append(self.write_file(f"{prefix.rstrip('/')}/{rel}", full))
        if not entries:
            raise ValueError(f"write_dir: {local_dir} holds no files")
        return entries

    def abort(self) -> None:
        """Delete this attempt's files (best effort); an aborted attempt is never referenced by a manifest."""
        self.release()
        try:
            self.fs.remove_tree(self.attempt_prefix)
        except Exception:  # noqa: BLE001 - leftovers are garbage that readers never trust
            pass
        if self.fs.protocol == "file":  # no empty version/stage/step folders left behind (S3 has no folders)
            folder = self.fs.full(self.version_prefix)
            for _ in range(3):
                try:
                    os.rmdir(folder)  # only succeeds while empty: another writer's files are never touched
                except OSError:
                    break
                folder = os.path.dirname(folder)
