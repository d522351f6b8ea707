"""A run folder: run.json, committed stage versions, commits with create-if-absent."""

from __future__ import annotations

import json
import posixpath
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from plotline.store.artifact import Artifact
from plotline.store.config import StorageConfig
from plotline.store.errors import AlreadyCommitted, CorruptArtifact, StoreError
from plotline.store.fs import StoreFS
from plotline.store.layout import (
    MANIFEST_NAME,
    RUN_FILE,
    parse_version,
    split_run_uri,
    stage_prefix,
    step_folder,
    version_folder,
)
from plotline.store.manifest import FileEntry, Manifest
from plotline.store.writer import LEASE_SUFFIX, ArtifactWriter, lease_rel


class RunStore:
    """All artifacts of one run (`{root}/{run_id}`), local or on S3."""

    def __init__(self, run_uri: str, config: StorageConfig | None = None):
        root, self.run_id = split_run_uri(run_uri)
        self.fs = StoreFS(root, config)

    @property
    def uri(self) -> str:
        """URL of the run folder."""
        return self.fs.url(self.run_id)

    # -- run.json ------------------------------------------------------------------------------------------
    def ensure_run_file(self, config: dict[str, Any], code_version: str) -> dict:
        """Create run.json on first use (create-if-absent; an existing one is never overwritten) and return it."""
        rel = f"{self.run_id}/{RUN_FILE}"
        body = {
            "run_id": self.run_id,
            "created_at": datetime.now(UTC).isoformat(),
            "code_version": code_version,
            "config": config,
        }
        try:
            self.fs.create_exclusive(rel, json.dumps(body, indent=2, sort_keys=True).encode())
        except AlreadyCommitted:
            pass
        return self.run_info()

    def run_info(self) -> dict:
        """Content of run.json."""
        rel = f"{self.run_id}/{RUN_FILE}"
        try:
            return json.loads(self.fs.read_bytes(rel))
        except FileNotFoundError:
            raise StoreError(f"{self.fs.url(rel)} not found: {self.uri} is not a plotline run (no run.json)") from None

    # -- discovery -----------------------------------------------------------------------------------------
    def steps(self, area: str = "steps") -> list[int]:
        """Step numbers that have any folder in `area`."""
        base = self.run_id if area == "steps" else f"{self.run_id}/checkpoints"
        return sorted(int(d.split("=", 1)[1]) for d in self.fs.list_dirs(base) if d.startswith("step="))

    def stages_at(self, step: int, area: str = "steps") -> list[str]:
        """Stage names with a folder at `step`."""
        base = (
            f"{self.run_id}/{step_folder(step)}"
            if area == "steps"
            else f"{self.run_id}/checkpoints/{step_folder(step)}"
        )
        return self.fs.list_dirs(base)

    def _manifest_at(self, prefix: str) -> Manifest | None:
        rel = posixpath.join(prefix, MANIFEST_NAME)
        try:
            raw = self.fs.read_bytes(rel)
        except FileNotFoundError:
            return None
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as exc:
            raise CorruptArtifact(f"{self.fs.url(rel)} is not a valid manifest: {exc.errors()[0]['msg']}") from None

    def versions(self, stage: str, step: int, area: str = "steps") -> list[int]:
        """Committed version numbers of `stage` at `step` (folders without a manifest are not versions)."""
        prefix = stage_prefix(self.run_id, step, stage, area)
        out = []
        for name in self.fs.list_dirs(prefix):
            v = parse_version(name)
            if v is not None and self.fs.exists(posixpath.join(prefix, name, MANIFEST_NAME)):
                out.append(v)
        return sorted(out)

    def artifact(self, stage: str, step: int, version: int, area: str = "steps") -> Artifact:
        """The committed version `version` of `stage` at `step`."""
        prefix = posixpath.join(stage_prefix(self.run_id, step, stage, area), version_folder(version))
        manifest = self._manifest_at(prefix)
        if manifest is None:
            raise CorruptArtifact(f"{self.fs.url(prefix)} has no committed manifest")
        return Artifact(self.fs, prefix, manifest)

    def artifacts(self, stage: str, step: int, area: str = "steps") -> list[Artifact]:
        """Every committed version of `stage` at `step`, oldest first."""
        return [self.artifact(stage, step, v, area) for v in self.versions(stage, step, area)]

    def latest(self, stage: str, step: int, area: str = "steps") -> Artifact | None:
        """The newest committed version of `stage` at `step`, or None."""
        versions = self.versions(stage, step, area)
        return self.artifact(stage, step, versions[-1], area) if versions else None

    def artifact_at(self, rel_or_url: str) -> Artifact:
        """Open a committed artifact from its version-folder or manifest URL/path (as printed by the CLI)."""
        text = rel_or_url.rstrip("/")
        if text.endswith(MANIFEST_NAME):
            text = text[: -len(MANIFEST_NAME) - 1]
        marker = f"{self.run_id}/"
        # the run id as a whole path segment followed by the run's layout: a folder above the run may end with
        # the same letters (run `demo` under /tmp/h18demo/) or be named like it (/data/demo/runs/demo)
        starts = [i for i in _find_all(text, marker) if i == 0 or text[i - 1] == "/"]
        inside = [i for i in starts if text[i + len(marker) :].startswith(("step=", "checkpoints/"))]
        idx = (inside or starts or [-1])[-1]
        if idx < 0:
            raise StoreError(f"{rel_or_url} is not inside run {self.uri}")
        prefix = text[idx:]
        manifest = self._manifest_at(prefix)
        if manifest is None:
            raise CorruptArtifact(f"{self.fs.url(prefix)} has no committed manifest (uncommitted output is never read)")
        return Artifact(self.fs, prefix, manifest)

    # -- writing -------------------------------------------------------------------------------------------
    def next_version(self, stage: str, step: int, area: str = "steps") -> int:
        """The version a new output of `stage` at `step` is written as: one past the newest committed."""
        versions = self.versions(stage, step, area)
        return versions[-1] + 1 if versions else 0

    def open_writer(
        self, stage: str, step: int, version: int, attempt: str, stamp: dict[str, str], area: str = "steps"
    ) -> ArtifactWriter:
        """A writer for a new attempt at `stage`/`step`/`version`."""
        prefix = posixpath.join(stage_prefix(self.run_id, step, stage, area), version_folder(version))
        return ArtifactWriter(self.fs, prefix, attempt, stamp, lease_s=self.fs.config.lease_s)

    def commit(self, writer: ArtifactWriter, manifest: Manifest) -> Artifact:
        """Write `_manifest.json` last, create-if-absent. Raises AlreadyCommitted if another writer won."""
        manifest.files = [FileEntry.model_validate(f.model_dump()) for f in writer.files]  # re-checks every path
        manifest.validation = list(writer.validation)
        manifest.summary = dict(writer.summary)
        rel = posixpath.join(writer.version_prefix, MANIFEST_NAME)
        try:
            self._check_written(writer, manifest)
            self.fs.create_exclusive(rel, manifest.to_bytes())
        except CorruptArtifact:
            writer.abort()
            raise
        except AlreadyCommitted:
            winner = self._manifest_at(writer.version_prefix)
            writer.abort()
            who = f" (manifest {winner.manifest_id}, attempt {winner.attempt})" if winner else ""
            raise AlreadyCommitted(
                f"{manifest.stage} step {manifest.step} v{manifest.version} was committed by another writer first{who}; "
                f"this attempt ({writer.attempt}) was discarded: {self.fs.url(rel)}"
            ) from None
        writer.release()
        return Artifact(self.fs, writer.version_prefix, manifest)

    def _check_written(self, writer: ArtifactWriter, manifest: Manifest) -> None:
        """Every file the manifest lists must exist in the attempt folder with its recorded size (one listing)."""
        sizes = self.fs.file_sizes(writer.attempt_prefix)
        problems = []
        for entry in manifest.files:
            rel = posixpath.join(writer.version_prefix, entry.path)
            if rel not in sizes:
                problems.append(f"{entry.name} is missing")
            elif sizes[rel] != entry.bytes:
                problems.append(f"{entry.name} has {sizes[rel]} bytes, {entry.bytes} were written")
        if problems:
            raise CorruptArtifact(
                f"refusing to commit {self.fs.url(writer.version_prefix)} (attempt {writer.attempt}): "
                + "; ".join(problems)
                + " (deleted by another process, e.g. gc?)"
            )

    def _uncommitted(self) -> list[tuple[str, float | None]]:
        """(attempt prefix, lease expiry or None) of every attempt no committed manifest references."""
        out = []
        for area in ("steps", "checkpoints"):
            for step in self.steps(area):
                for stage in self.stages_at(step, area):
                    sp = stage_prefix(self.run_id, step, stage, area)
                    for vname in self.fs.list_dirs(sp):
                        vp = posixpath.join(sp, vname)
                        manifest = self._manifest_at(vp)
                        keep = manifest.attempt if manifest else None
                        dirs, files = self.fs.list_children(vp)
                        names = set(dirs) | {f[: -len(LEASE_SUFFIX)] for f in files if f.endswith(LEASE_SUFFIX)}
                        out += [(posixpath.join(vp, a), self._lease_expiry(vp, a)) for a in sorted(names) if a != keep]
        return out

    def _lease_expiry(self, version_prefix: str, attempt: str) -> float | None:
        try:
            return float(json.loads(self.fs.read_bytes(lease_rel(version_prefix, attempt)))["expires_at"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable lease protects nothing

    def garbage(self) -> list[str]:
        """Attempt folders not referenced by any committed manifest: output of killed or losing writers, and of
        writers still at work (see expired_garbage for what may be deleted)."""
        return [p for p, _ in self._uncommitted()]

    def expired_garbage(self, now: float | None = None) -> list[str]:
        """Uncommitted attempt folders whose writer's lease has expired (or that have none): safe to delete.
        Live writers (lease still renewed) are never listed."""
        now = time.time() if now is None else now
        return [p for p, exp in self._uncommitted() if exp is None or exp <= now]

    def live_attempts(self, now: float | None = None) -> list[tuple[str, float]]:
        """(attempt prefix, seconds left on its lease) of uncommitted attempts whose writer still holds a lease."""
        now = time.time() if now is None else now
        return [(p, exp - now) for p, exp in self._uncommitted() if exp is not None and exp > now]

    def remove_attempt(self, attempt_prefix: str) -> None:
        """Delete an attempt folder and its lease (what `plotline gc --delete` does to each garbage attempt)."""
        self.fs.remove_tree(attempt_prefix)
        self.fs.remove_tree(attempt_prefix + LEASE_SUFFIX)


def _find_all(text: str, part: str) -> list[int]:
    """Every index at which `part` starts in `text`."""
    found, i = [], text.find(part)
    while i >= 0:
        found.append(i)
        i = text.find(part, i + 1)
    return found
