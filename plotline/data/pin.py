"""The instruction source a run is pinned to: `plotline data import --run R` records the artifact it committed
in `R/instructions_pin.json`, and the train flow then uses that artifact instead of running the instructions
stage from `data.source` (which would supersede the import with, e.g., the world generator's output).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from plotline.store import RunStore
from plotline.store.artifact import Artifact
from plotline.store.errors import StoreError

PIN_FILE = "instructions_pin.json"


class PinError(StoreError):
    """The run's instruction pin is unreadable or names an artifact that is not committed as recorded."""


def pin_instructions(store: RunStore, artifact: Artifact, source_path: str) -> dict:
    """Record `artifact` (a committed instructions version of this run, imported from `source_path`) as the run's
    instruction source; returns the record written."""
    m = artifact.manifest
    pin = {
        "stage": m.stage,
        "step": m.step,
        "version": m.version,
        "manifest_id": m.manifest_id,
        "folder": artifact.prefix[len(store.run_id) + 1 :],
        "source_path": source_path,
        "rows": m.summary.get("rows"),
        "pinned_at": datetime.now(UTC).isoformat(),
    }
    store.fs.write_bytes(f"{store.run_id}/{PIN_FILE}", json.dumps(pin, indent=1).encode())
    return pin


def pinned_instructions(store: RunStore) -> tuple[Artifact, dict] | None:
    """(artifact, pin record) of the run's pinned instruction source, or None when the run has no pin.

    Raises PinError naming the file when the pin is unreadable or its artifact is not the committed manifest
    it recorded."""
    rel = f"{store.run_id}/{PIN_FILE}"
    if not store.fs.exists(rel):
        return None
    url = store.fs.url(rel)
    try:
        pin = json.loads(store.fs.read_bytes(rel).decode("utf-8"))
        folder, manifest_id = pin["folder"], pin["manifest_id"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise PinError(
            f"{url}: not a readable instruction pin ({type(exc).__name__}: {exc}); delete it or "
            f"re-run `plotline data import --run {store.uri}`"
        ) from None
    art = store.artifact_at(f"{store.run_id}/{folder}")
    if art.manifest.manifest_id != manifest_id:
        raise PinError(f"{url}: pins manifest {manifest_id} but {art.uri} holds {art.manifest.manifest_id}")
    return art, pin
