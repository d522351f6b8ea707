"""Local weight paths named by config keys: a missing one is an error that names the key to set."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


class MissingPathError(FileNotFoundError):
    """A configured local path (weights, encoder, VAE, planner model) does not exist; the message names the key."""


def require_path(value: str | Path | None, key: str, what: str, kind: Literal["file", "dir", "any"] = "any") -> Path:
    """`value` as a Path when it exists (as a file / directory for kind), else MissingPathError naming `key`."""
    hint = f"set {key} to {what} (in the preset or with --set {key}=PATH)"
    if not value:
        raise MissingPathError(f"{key} is not set: {hint}")
    path = Path(value).expanduser()
    ok = {"file": path.is_file, "dir": path.is_dir, "any": path.exists}[kind]()
    if not ok:
        found = (
            "is not a file"
            if kind == "file" and path.exists()
            else ("is not a directory" if kind == "dir" and path.exists() else "does not exist")
        )
        raise MissingPathError(f"{key}: {str(path)!r} {found}; {hint}")
    return path
