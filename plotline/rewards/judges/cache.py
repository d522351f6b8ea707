"""Judge-call cache keyed by (model, prompt, frames hash): memory, plus optional files on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path


class JudgeCache:
    """Stores the raw reply of every successful call (errors are not cached, so a later run retries them).
    On disk each entry is `{dir}/{key[:2]}/{key}.json`, written atomically (safe for parallel writers)."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self._mem: dict[str, dict] = {}

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored entry `{"raw", "latency_s", "model"}` of `key`, or None."""
        if key in self._mem:
            return self._mem[key]
        if self.directory is not None:
            path = self._path(key)
            if path.is_file():
                try:
                    entry = json.loads(path.read_text())
                except (OSError, ValueError):
                    return None
                self._mem[key] = entry
                return entry
        return None

    def put(self, key: str, entry: dict) -> None:
        """Store `entry` under `key` in memory and, when configured, on disk."""
        self._mem[key] = entry
        if self.directory is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entry))
            os.replace(tmp, path)

    def __len__(self) -> int:
        return len(self._mem)
