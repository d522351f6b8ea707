"""Parts of an attempt: a stage output made visible piece by piece before it is committed (the streaming score,
docs/streaming_score.md).

A writer that produces its output in independent pieces (the rollout: one plan after the other) may publish each
piece as a *part* of its attempt once the piece's files are written: `PartWriter.commit` writes the piece's rows
as `_parts/<index>.parquet` and then, create-if-absent, the marker `_parts/<index>.json` listing the piece's file
entries (name, attempt path, sha256, size) and the rows' sha256. A part is therefore immutable once visible, and
every read of it is checked against its marker. `_parts/stream.json`, written first, describes which output the
attempt will commit (the writer's config key and input manifests) so that a reader can tell it from other
attempts. Parts live inside the attempt folder: the attempt's lease protects them from gc, an abort deletes them
with the attempt, and `PartWriter.close` removes `_parts/` just before the commit, so the committed artifact is
exactly the one written without parts (its manifest lists the same files).

`PartStream` follows the parts of one attempt in order with a bounded wait: it yields each part as it appears,
and once the attempt is committed it reads the rest from the committed artifact. It fails, naming the missing
part, when the attempt is aborted (its folder vanished), when the writer's lease expired (a killed writer), or
when no new part appeared within the timeout.
"""

from __future__ import annotations

import io
import json
import posixpath
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from plotline.store.artifact import Artifact, sha256_bytes
from plotline.store.errors import CorruptArtifact, StoreError
from plotline.store.layout import parse_version, stage_prefix
from plotline.store.manifest import FileEntry, Manifest
from plotline.store.run import RunStore
from plotline.store.writer import ArtifactWriter, lease_rel

PARTS_DIR = "_parts"
HEADER = "stream.json"


class PartMissing(StoreError):
    """A streamed part did not appear: its writer aborted, was killed, or took longer than the bounded wait."""


def part_name(index: int) -> str:
    """File stem of part `index` (`00003`)."""
    return f"{index:05d}"


class PartWriter:
    """Publishes the pieces of one attempt as parts (see the module docstring)."""

    def __init__(self, writer: ArtifactWriter, header: dict):
        self.writer = writer
        self.base = posixpath.join(writer.attempt_prefix, PARTS_DIR)
        self.count = 0
        body = {**header, "attempt": writer.attempt}
        writer.fs.create_exclusive(posixpath.join(self.base, HEADER), json.dumps(body, sort_keys=True).encode())

    def commit(self, key: str, entries: Sequence[FileEntry], rows: pa.Table) -> None:
        """Make the next part visible: its `rows` and the already written files `entries` (key: e.g. the plan id)."""
        buf = io.BytesIO()
        pq.write_table(rows, buf)
        data = buf.getvalue()
        stem = part_name(self.count)
        self.writer.fs.write_bytes(posixpath.join(self.base, stem + ".parquet"), data)
        marker = {
            "index": self.count,
            "key": key,
            "rows_sha256": sha256_bytes(data),
            "rows_bytes": len(data),
            "files": [e.model_dump(mode="json") for e in entries],
        }
        self.writer.fs.create_exclusive(posixpath.join(self.base, stem + ".json"), json.dumps(marker).encode())
        self.count += 1

    def close(self) -> None:
        """Remove the parts before the commit: the committed artifact then holds only its listed files."""
        self.writer.fs.remove_tree(self.base)


@dataclass
class Part:
    """One piece of a streamed output: its index and key, its rows, and an artifact whose files it can read
    (a provisional view of the attempt listing the part's files, or the committed artifact)."""

    index: int
    key: str
    rows: list[dict]
    source: Artifact
    committed: bool


class PartStream:
    """Follows the parts of the attempt of `stage` at `step` whose header `matches` (or the committed version
    whose manifest `accepts`), yielding parts `keys` in order; see the module docstring.

    `table` and `key_column` name the committed table and the column holding each part's key, from which parts
    not yet read are taken once the attempt is committed."""

    def __init__(
        self,
        store: RunStore,
        stage: str,
        step: int,
        *,
        matches: Callable[[dict], bool],
        accepts: Callable[[Manifest], bool],
        table: str,
        key_column: str,
        timeout_s: float,
        poll_s: float = 0.1,
        area: str = "steps",
    ):
        self.store, self.stage, self.step, self.area = store, stage, step, area
        self.matches, self.accepts = matches, accepts
        self.table, self.key_column = table, key_column
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self.prefix = stage_prefix(store.run_id, step, stage, area)
        self.version_prefix: str | None = None
        self.attempt: str | None = None
        self.committed: Artifact | None = None
        self.events: list[tuple[str, int]] = []
        """("part", i) when part i was read from the attempt, ("committed", i) when the commit was seen first
        with parts i.. still unread: what the stream saw, in order (tests and summaries read it)."""

    # -- discovery ---------------------------------------------------------------------------------------------
    def _scan(self) -> None:
        """Find our attempt (uncommitted, header matching) or our committed version."""
        fs = self.store.fs
        for vname in reversed(fs.list_dirs(self.prefix)):
            if parse_version(vname) is None:
                continue
            vp = posixpath.join(self.prefix, vname)
            manifest = self.store._manifest_at(vp)
            if manifest is not None:
                if self.accepts(manifest):
                    self.committed = Artifact(fs, vp, manifest)
                    return
                continue
            for attempt in fs.list_dirs(vp):
                try:
                    header = json.loads(fs.read_bytes(posixpath.join(vp, attempt, PARTS_DIR, HEADER)))
                except (FileNotFoundError, ValueError):
                    continue
                if self.matches(header):
                    self.version_prefix, self.attempt = vp, attempt
                    return

    def _check_commit(self) -> None:
        """Whether our attempt's version folder got its manifest (ours, or another writer's that is accepted)."""
        assert self.version_prefix is not None
        manifest = self.store._manifest_at(self.version_prefix)
        if manifest is None:
            return
        if manifest.attempt == self.attempt or self.accepts(manifest):
            self.committed = Artifact(self.store.fs, self.version_prefix, manifest)
            return
        raise PartMissing(
            f"{self.store.fs.url(self.version_prefix)} was committed by attempt {manifest.attempt}, not by the "
            f"followed attempt {self.attempt}, and its output is not the expected one"
        )

    def _writer_state(self) -> str | None:
        """Why the followed attempt can no longer commit (aborted, lease expired), or None while it can."""
        assert self.version_prefix is not None and self.attempt is not None
        fs = self.store.fs
        if not fs.exists(posixpath.join(self.version_prefix, self.attempt)):
            return "its attempt folder was removed without a commit (the writer failed and aborted)"
        try:
            lease = json.loads(fs.read_bytes(lease_rel(self.version_prefix, self.attempt)))
            expires = float(lease["expires_at"])
        except FileNotFoundError:
            return "its writer holds no lease (the writer stopped without committing)"
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= time.time():
            return f"its writer's lease expired {time.time() - expires:.1f} s ago (the writer was killed)"
        return None

    # -- reading -----------------------------------------------------------------------------------------------
    def _read_part(self, index: int) -> Part | None:
        """Part `index` of the followed attempt, or None while it is not visible."""
        assert self.version_prefix is not None and self.attempt is not None
        fs = self.store.fs
        base = posixpath.join(self.version_prefix, self.attempt, PARTS_DIR, part_name(index))
        try:
            marker = json.loads(fs.read_bytes(base + ".json"))
            data = fs.read_bytes(base + ".parquet")
        except FileNotFoundError:
            return None
        if sha256_bytes(data) != marker["rows_sha256"] or len(data) != marker["rows_bytes"]:
            raise CorruptArtifact(f"{fs.url(base)}.parquet does not match its part marker {fs.url(base)}.json")
        manifest = Manifest(
            run_id=self.store.run_id,
            stage=self.stage,
            step=self.step,
            version=parse_version(posixpath.basename(self.version_prefix)) or 0,
            area=self.area,
            code_version="",
            config_hash="",
            config_sections=[],
            input_digest="",
            files=[FileEntry.model_validate(f) for f in marker["files"]],
            attempt=self.attempt,
        )
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        return Part(index, str(marker["key"]), rows, Artifact(fs, self.version_prefix, manifest), False)

    def _committed_parts(self, keys: Sequence[str], start: int) -> Iterator[Part]:
        """Parts `start..` taken from the committed table."""
        assert self.committed is not None
        rows = self.committed.read_table(self.table).to_pylist()
        by_key: dict[str, list[dict]] = {}
        for r in rows:
            by_key.setdefault(str(r[self.key_column]), []).append(r)
        self.events.append(("committed", start))
        for i in range(start, len(keys)):
            yield Part(i, keys[i], by_key.get(keys[i], []), self.committed, True)

    def follow(self, keys: Sequence[str]) -> Iterator[Part]:
        """Yield parts 0..len(keys)-1 in order as they become visible (key i must be `keys[i]`)."""
        index, deadline = 0, time.monotonic() + self.timeout_s
        while index < len(keys):
            if self.committed is None:
                if self.attempt is None:
                    self._scan()
                else:
                    self._check_commit()
            if self.committed is not None:
                yield from self._committed_parts(keys, index)
                return
            part = self._read_part(index) if self.attempt is not None else None
            if part is not None:
                if part.key != keys[index]:
                    raise CorruptArtifact(
                        f"part {index} of {self.where()} is {part.key!r}, expected {keys[index]!r}: the writer "
                        f"publishes its pieces in another order than the reader expects"
                    )
                self.events.append(("part", index))
                yield part
                index, deadline = index + 1, time.monotonic() + self.timeout_s
                continue
            if self.attempt is not None:
                why = self._writer_state()
                if why is not None:
                    self._check_commit()  # it may have committed between the two looks
                    if self.committed is None:
                        raise PartMissing(f"part {index} ({keys[index]!r}) of {self.where()} never appeared: {why}")
                    continue
            if time.monotonic() > deadline:
                raise PartMissing(
                    f"part {index} ({keys[index]!r}) of {self.where()} did not appear within {self.timeout_s:g} s"
                    + ("" if self.attempt is not None else " (no attempt writing this output was found)")
                )
            time.sleep(self.poll_s)

    def wait_committed(self) -> Artifact:
        """The committed artifact, waiting (bounded as above) for the commit after the last part."""
        deadline = time.monotonic() + self.timeout_s
        while self.committed is None:
            if self.attempt is None:
                self._scan()
            else:
                self._check_commit()
                if self.committed is None:
                    why = self._writer_state()
                    if why is not None:
                        self._check_commit()
                        if self.committed is None:
                            raise PartMissing(f"{self.where()} was never committed after its last part: {why}")
            if self.committed is not None:
                break
            if time.monotonic() > deadline:
                raise PartMissing(f"{self.where()} was not committed within {self.timeout_s:g} s of its last part")
            time.sleep(self.poll_s)
        return self.committed

    def where(self) -> str:
        """The followed output, for error messages: the attempt's folder, or the stage folder while none is known."""
        if self.version_prefix is not None:
            return f"{self.stage} step {self.step} ({self.store.fs.url(posixpath.join(self.version_prefix, self.attempt or ''))})"
        return f"{self.stage} step {self.step} ({self.store.fs.url(self.prefix)})"
