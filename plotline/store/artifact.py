"""Reading committed artifacts: every read is checked against the manifest (sha256, size, schema)."""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from plotline.store.errors import CorruptArtifact
from plotline.store.fs import StoreFS
from plotline.store.manifest import FileEntry, Manifest
from plotline.store.tensors import metadata_from_bytes, tensors_from_bytes


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


class Artifact:
    """A committed stage output version: its manifest and verified access to its files."""

    def __init__(self, fs: StoreFS, prefix: str, manifest: Manifest):
        self.fs = fs
        self.prefix = prefix  # root-relative version folder
        self.manifest = manifest

    @property
    def uri(self) -> str:
        """URL of the version folder."""
        return self.fs.url(self.prefix)

    @property
    def files(self) -> list[str]:
        """Logical names of the committed files."""
        return [f.name for f in self.manifest.files]

    def _entry(self, name: str) -> FileEntry:
        try:
            return self.manifest.file(name)
        except KeyError as exc:
            raise CorruptArtifact(f"{self.uri}: {exc.args[0]}") from None

    def read_bytes(self, name: str) -> bytes:
        """Content of a committed file, verified against the manifest's size and sha256."""
        entry = self._entry(name)
        rel = posixpath.join(self.prefix, entry.path)
        try:
            data = self.fs.read_bytes(rel)
        except FileNotFoundError:
            raise CorruptArtifact(f"{self.fs.url(rel)} is listed in the manifest but missing") from None
        if len(data) != entry.bytes or sha256_bytes(data) != entry.sha256:
            raise CorruptArtifact(
                f"{self.fs.url(rel)} does not match its manifest: sha256 {sha256_bytes(data)[:16]}… "
                f"({len(data)} bytes), manifest says {entry.sha256[:16]}… ({entry.bytes} bytes)"
            )
        return data

    def read_table(self, name: str) -> pa.Table:
        """A committed Parquet file as a pyarrow Table, with its schema checked against its kind's contract."""
        entry = self._entry(name)
        table = pq.read_table(io.BytesIO(self.read_bytes(name)))
        if entry.kind:
            from data_contracts import get_kind

            expected = get_kind(entry.kind).schema
            if not table.schema.equals(expected, check_metadata=False):
                raise CorruptArtifact(f"{self.uri}/{entry.path}: schema differs from the {entry.kind!r} contract "
                                      f"(got {table.schema.names}, expected {expected.names})")
        return table

    def read_tensors(self, name: str):
        """A committed safetensors file as a dict of tensors."""
        return tensors_from_bytes(self.read_bytes(name))

    def tensor_metadata(self, name: str) -> dict[str, str]:
        """The metadata stored in a committed safetensors file."""
        return metadata_from_bytes(self.read_bytes(name))

    def local_path(self, name: str) -> str:
        """A local filesystem path holding the verified file (the file itself for local stores, else a cached copy)."""
        entry = self._entry(name)
        if self.fs.protocol == "file":
            self.read_bytes(name)  # verify
            return os.path.join(self.fs.full(self.prefix), entry.path)
        cache = Path(self.fs.config.cache_dir or os.path.join(tempfile.gettempdir(), "plotline-cache"))
        target = cache / entry.sha256[:2] / entry.sha256 / posixpath.basename(entry.name)
        if not target.exists():
            data = self.read_bytes(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return str(target)

    def local_dir(self, prefix: str) -> str:
        """A local folder with every committed file under logical prefix `prefix/` (e.g. a peft adapter folder)."""
        names = [f.name for f in self.manifest.files if f.name.startswith(prefix.rstrip("/") + "/")]
        if not names:
            raise CorruptArtifact(f"{self.uri}: no files under {prefix!r}; it has {', '.join(self.files) or 'none'}")
        if self.fs.protocol == "file":
            for n in names:
                self.read_bytes(n)
            first = self._entry(names[0])
            depth = len(names[0].split("/")) - len(prefix.rstrip("/").split("/"))
            folder = os.path.join(self.fs.full(self.prefix), first.path)
            for _ in range(depth):
                folder = os.path.dirname(folder)
            return folder
        digest = sha256_bytes("".join(self._entry(n).sha256 for n in names).encode())
        root = Path(self.fs.config.cache_dir or os.path.join(tempfile.gettempdir(), "plotline-cache")) / "dirs" / digest
        if not (root / ".complete").exists():
            for n in names:
                dest = root / posixpath.relpath(n, prefix.rstrip("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(self.read_bytes(n))
            (root / ".complete").write_text("ok")
        return str(root)
