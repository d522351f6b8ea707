"""Filesystem access for the store: one class over fsspec, local folders and s3:// alike.

Create-if-absent is the one primitive that must be atomic: on local disks it is a hard link of a fully written
temporary file (fails if the target exists); on S3 it is PutObject with `If-None-Match: *`.

Every call to an async backend (s3fs) runs under a wall-clock deadline derived from the retry budget
(`call_deadline_s`), on top of botocore's own per-attempt timeouts: a stalled endpoint that accepts connections
and never answers cannot hold a stage longer than that, and fails with StoreUnavailable naming the endpoint.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import fsspec
from fsspec.asyn import AsyncFileSystem, sync

from plotline.store.config import StorageConfig
from plotline.store.errors import AlreadyCommitted, StoreError, StoreUnavailable

T = TypeVar("T")

_UNREACHABLE_NAMES = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ConnectionClosedError",
    "ConnectionRefusedError",
)


def _is_unreachable(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in _UNREACHABLE_NAMES or isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def call_deadline_s(s3) -> float:
    """Longest wall-clock time one store call may take: every attempt's connect + read timeout, plus botocore's
    standard-mode backoff between attempts (at most min(20, 2^i) s before retry i), plus one second of slack."""
    backoff = sum(min(20.0, 2.0**i) for i in range(max(0, s3.max_attempts - 1)))
    return s3.max_attempts * (s3.connect_timeout_s + s3.read_timeout_s) + backoff + 1.0


class StoreFS:
    """A rooted filesystem: every path argument is relative to `root` (a local folder or an s3:// URL)."""

    def __init__(self, root: str, config: StorageConfig | None = None):
        self.config = config or StorageConfig()
        self.protocol = root.split("://", 1)[0] if "://" in root else "file"
        if self.protocol == "file":
            root = str(Path(root.removeprefix("file://")).expanduser().resolve())
            self.fs = fsspec.filesystem("file", auto_mkdir=True)
        elif self.protocol in ("s3", "s3a"):
            self.fs = _s3_filesystem(self.config)
            root = root.split("://", 1)[1]
        else:
            self.fs = fsspec.filesystem(self.protocol)
            root = root.split("://", 1)[1]
        self.root = root.rstrip("/")
        self.deadline_s = call_deadline_s(self.config.s3)
        self.root_url = root if self.protocol == "file" else f"{self.protocol}://{self.root}"

    # -- helpers -------------------------------------------------------------------------------------------
    def full(self, rel: str) -> str:
        """Backend path of a root-relative path."""
        return posixpath.join(self.root, rel.lstrip("/")) if rel else self.root

    def url(self, rel: str) -> str:
        """User-facing URL of a root-relative path (what error messages and the CLI print)."""
        return self.full(rel) if self.protocol == "file" else f"{self.protocol}://{self.full(rel)}"

    @property
    def endpoint(self) -> str:
        """The object-store endpoint this filesystem talks to (what StoreUnavailable names)."""
        if self.protocol == "file":
            return "local disk"
        return self.config.s3.endpoint_url or os.environ.get("PLOTLINE_S3_ENDPOINT_URL") or "the default AWS endpoint"

    def _op(self, name: str, *args, nbytes: int = 0, **kwargs):
        """fsspec method `name`, bounded on async backends by `deadline_s` plus `nbytes` at the slowest accepted
        transfer rate (the coroutine is cancelled on expiry, which surfaces as StoreUnavailable)."""
        if isinstance(self.fs, AsyncFileSystem):
            timeout = self.deadline_s + nbytes / (self.config.s3.min_transfer_mb_s * 1e6)
            return sync(self.fs.loop, getattr(self.fs, f"_{name}"), *args, timeout=timeout, **kwargs)
        return getattr(self.fs, name)(*args, **kwargs)

    def _call(self, what: str, rel: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (FileNotFoundError, FileExistsError, AlreadyCommitted):
            raise
        except Exception as exc:  # translate transport failures into a readable error
            if _is_unreachable(exc):
                limit = (
                    (f", deadline {self.deadline_s:g} s + transfer time at {self.config.s3.min_transfer_mb_s:g} MB/s")
                    if self.protocol != "file"
                    else ""
                )
                detail = str(exc) or f"no answer within {self.deadline_s:g} s"
                raise StoreUnavailable(
                    f"storage unreachable while trying to {what} {self.url(rel)} (endpoint {self.endpoint}, "
                    f"{self.config.s3.max_attempts} attempt(s){limit}): {type(exc).__name__}: {detail}"
                ) from exc
            raise StoreError(f"could not {what} {self.url(rel)}: {type(exc).__name__}: {exc}") from exc

    # -- operations ----------------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        """True if a file or folder exists at `rel`."""
        return self._call("check", rel, lambda: self._op("exists", self.full(rel)))

    def read_bytes(self, rel: str, size_hint: int = 0) -> bytes:
        """Whole content of the file at `rel` (`size_hint`: its expected size, which extends the call's deadline)."""
        return self._call("read", rel, lambda: self._op("cat_file", self.full(rel), nbytes=size_hint))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write (or replace) a file. Used only inside an uncommitted attempt folder."""
        self._call("write", rel, lambda: self._op("pipe_file", self.full(rel), data, nbytes=len(data)))

    def put_file(self, local_path: str, rel: str) -> None:
        """Upload a local file to `rel`."""
        self._call(
            "upload to",
            rel,
            lambda: self._op("put_file", local_path, self.full(rel), nbytes=os.path.getsize(local_path)),
        )

    def get_file(self, rel: str, local_path: str) -> None:
        """Download the file at `rel` to `local_path`."""
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        self._call("download", rel, lambda: self._op("get_file", self.full(rel), local_path))

    def list_dirs(self, rel: str) -> list[str]:
        """Names of the immediate sub-folders of `rel` (empty if it does not exist)."""

        def run():
            try:
                entries = self._op("ls", self.full(rel), detail=True)
            except FileNotFoundError:
                return []
            return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries if e["type"] == "directory")

        return self._call("list", rel, run)

    def list_children(self, rel: str) -> tuple[list[str], list[str]]:
        """(sub-folder names, file names) directly inside `rel`, from one listing (empty if it does not exist)."""

        def run():
            try:
                entries = self._op("ls", self.full(rel), detail=True)
            except FileNotFoundError:
                return [], []
            names = [(posixpath.basename(e["name"].rstrip("/")), e["type"]) for e in entries]
            return sorted(n for n, t in names if t == "directory"), sorted(n for n, t in names if t != "directory")

        return self._call("list", rel, run)

    def list_files(self, rel: str) -> list[str]:
        """Root-relative paths of every file below `rel`."""

        def run():
            base = self.full(rel)
            try:
                found = self._op("find", base)
            except FileNotFoundError:
                return []
            return sorted(posixpath.join(rel, posixpath.relpath(p, base)) for p in found)

        return self._call("list", rel, run)

    def file_sizes(self, rel: str) -> dict[str, int]:
        """Root-relative path -> size in bytes of every file below `rel` (one listing; empty if it does not exist)."""

        def run():
            base = self.full(rel)
            try:
                found = self._op("find", base, detail=True)
            except FileNotFoundError:
                return {}
            return {
                posixpath.join(rel, posixpath.relpath(p, base)): int(info.get("size") or 0)
                for p, info in found.items()
                if info.get("type", "file") != "directory"
            }

        return self._call("list", rel, run)

    def remove_tree(self, rel: str) -> None:
        """Delete everything below `rel` (missing is fine)."""

        def run():
            if self._op("exists", self.full(rel)):
                self._op("rm", self.full(rel), recursive=True)

        self._call("delete", rel, run)

    def create_exclusive(self, rel: str, data: bytes) -> None:
        """Create `rel` with `data` only if it does not exist, atomically; raises AlreadyCommitted otherwise."""
        if self.protocol == "file":
            self._call("create", rel, lambda: _local_create_exclusive(self.full(rel), data))
        elif self.protocol in ("s3", "s3a"):
            self._call("create", rel, lambda: _s3_create_exclusive(self, self.full(rel), data))
        else:
            raise StoreError(f"create-if-absent is not supported for protocol {self.protocol!r} ({self.url(rel)})")


def _local_create_exclusive(path: str, data: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic; fails if `path` exists
    except FileExistsError:
        raise AlreadyCommitted(f"{path} already exists") from None
    finally:
        os.unlink(tmp)


def _s3_create_exclusive(store: StoreFS, path: str, data: bytes) -> None:
    bucket, key = path.split("/", 1)
    fs = store.fs
    try:
        store._op("call_s3", "put_object", Bucket=bucket, Key=key, Body=data, IfNoneMatch="*", nbytes=len(data))
    except Exception as exc:
        text = f"{type(exc).__name__} {exc}"
        if (
            "PreconditionFailed" in text
            or "412" in text
            or "ConditionalRequestConflict" in text
            or isinstance(exc, FileExistsError)
        ):
            raise AlreadyCommitted(f"s3://{path} already exists") from None
        raise
    fs.invalidate_cache(path)


def _s3_filesystem(config: StorageConfig):
    s3 = config.s3
    endpoint = s3.endpoint_url or os.environ.get("PLOTLINE_S3_ENDPOINT_URL")
    region = s3.region or os.environ.get("PLOTLINE_S3_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    client_kwargs = {}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    if region:
        client_kwargs["region_name"] = region
    kwargs = dict(
        client_kwargs=client_kwargs,
        config_kwargs={
            "retries": {"max_attempts": s3.max_attempts, "mode": "standard"},
            "connect_timeout": s3.connect_timeout_s,
            "read_timeout": s3.read_timeout_s,
        },
        use_listings_cache=False,
        skip_instance_cache=True,
    )
    if s3.access_key_id:
        kwargs["key"] = s3.access_key_id
    if s3.secret_access_key:
        kwargs["secret"] = s3.secret_access_key
    fs = fsspec.filesystem("s3", **kwargs)
    fs.retries = 1  # s3fs' own retry loop on top of botocore's would multiply attempts; botocore's bound rules
    return fs
