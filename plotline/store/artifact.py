"""Reading committed artifacts: every read is checked against the manifest (sha256, size, schema).

Files of a remote store are cached locally under their sha256. The cache is only a cache: before a cached copy is
used its size and sha256 are checked against the manifest entry, and a copy that does not match is downloaded
again (and verified) instead of being used. Hashing a large file on every use would cost seconds per read, so a
verified copy is remembered per process by (path, mtime_ns, size): any rewrite of the file changes its mtime
and is hashed again.
"""

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


_VERIFIED: dict[tuple[str, int, int], str] = {}
"""Per-process memo: (path, mtime_ns, size) of a cached file -> its sha256 as last hashed."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_copy_ok(path: Path, entry: FileEntry) -> bool:
    """True if the local file `path` exists and matches the manifest entry's size and sha256 (memoised, see above)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != entry.bytes:
        return False
    key = (str(path), st.st_mtime_ns, st.st_size)
    digest = _VERIFIED.get(key)
    if digest is None:
        digest = _VERIFIED[key] = sha256_file(path)
    return digest == entry.sha256


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


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
            data = self.fs.read_bytes(rel, size_hint=entry.bytes)
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
                raise CorruptArtifact(
                    f"{self.uri}/{entry.path}: schema differs from the {entry.kind!r} contract "
                    f"(got {table.schema.names}, expected {expected.names})"
                )
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
        if not cached_copy_ok(target, entry):  # missing or perturbed: fetch again, never use the bad copy
            _write_atomic(target, self.read_bytes(name))
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
        wanted = {root / posixpath.relpath(n, prefix.rstrip("/")): n for n in names}
        for dest, n in wanted.items():  # every use re-checks every file; a bad copy is fetched again
            if not cached_copy_ok(dest, self._entry(n)):
                _write_atomic(dest, self.read_bytes(n))
        for path in root.rglob("*"):  # files nobody listed (e.g. dropped into the cache) are removed
            if path.is_file() and path not in wanted and ".tmp" not in path.name:
                path.unlink()
        return str(root)
