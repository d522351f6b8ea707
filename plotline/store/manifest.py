"""The `_manifest.json` model: what a stage committed, from what, under which config."""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MANIFEST_FORMAT = "plotline.manifest/1"


def check_inside_path(path: str, what: str = "path") -> str:
    """Return `path` if it is a normalised relative POSIX path that stays inside its folder, else raise naming it:
    no leading '/', no drive or backslash, no '.' or '..' segment, no empty segment."""
    parts = path.split("/") if isinstance(path, str) else []
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or ":" in parts[0]
        or any(p in ("", ".", "..") for p in parts)
        or posixpath.normpath(path) != path
    ):
        raise ValueError(
            f"manifest {what} {path!r} must be a relative path inside its folder (no '..', no leading '/')"
        )
    return path


class FileEntry(BaseModel):
    """One committed file: logical name, storage path inside the version folder, checksum and size."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    sha256: str
    bytes: int
    rows: int | None = None
    kind: str | None = None
    schema_version: int | None = None

    @field_validator("name", "path")
    @classmethod
    def _inside(cls, value: str, info) -> str:
        return check_inside_path(value, f"file {info.field_name}")


class InputRef(BaseModel):
    """Lineage: one input manifest a stage read."""

    model_config = ConfigDict(extra="forbid")
    key: str
    stage: str
    step: int
    version: int
    area: str = "steps"
    manifest_id: str
    path: str


class Manifest(BaseModel):
    """Committed description of one stage output version (DESIGN §8)."""

    model_config = ConfigDict(extra="forbid")
    format: str = MANIFEST_FORMAT
    manifest_id: str = ""
    run_id: str
    stage: str
    step: int
    version: int
    area: str = "steps"
    code_version: str
    config_hash: str
    config_sections: list[str]
    input_digest: str
    inputs: list[InputRef] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    validation: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    attempt: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())

    def compute_id(self) -> str:
        """sha256 (first 20 hex) of the manifest body without its id: changes with any content change."""
        body = self.model_dump(mode="json", exclude={"manifest_id"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]

    def to_bytes(self) -> bytes:
        """Serialised manifest with its id filled in."""
        if not self.manifest_id:
            self.manifest_id = self.compute_id()
        return self.model_dump_json(indent=2).encode()

    def file(self, name: str) -> FileEntry:
        """The entry of logical file `name`, or KeyError listing what the manifest has."""
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(
            f"{self.stage} step {self.step} v{self.version} has no file {name!r}; "
            f"it has: {', '.join(e.name for e in self.files) or 'none'}"
        )


def input_digest(config_hash: str, inputs: list[InputRef]) -> str:
    """Cache key of a stage run: its config hash and the exact input manifests it read."""
    parts = [config_hash] + sorted(f"{i.key}={i.manifest_id}" for i in inputs)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
