"""Run layout (DESIGN §8): {root}/{run_id}/run.json, step=000042/{stage}/v0000/_manifest.json, checkpoints/step=.../."""

from __future__ import annotations

import re

MANIFEST_NAME = "_manifest.json"
RUN_FILE = "run.json"
AREAS = ("steps", "checkpoints")
_VERSION_RE = re.compile(r"^v(\d{4,})$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe folder name, else raise naming it."""
    if not _RUN_ID_RE.match(run_id or ""):
        raise ValueError(f"run id {run_id!r} must be 1-128 characters of letters, digits, '.', '_' or '-'")
    return run_id


def step_folder(step: int) -> str:
    """`step=000042` for step 42."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return f"step={step:06d}"


def stage_prefix(run_id: str, step: int, stage: str, area: str = "steps") -> str:
    """Root-relative folder holding every version of one stage's output at one step."""
    if area == "steps":
        return f"{run_id}/{step_folder(step)}/{stage}"
    if area == "checkpoints":
        return f"{run_id}/checkpoints/{step_folder(step)}/{stage}"
    raise ValueError(f"unknown area {area!r}; expected one of {AREAS}")


def version_folder(version: int) -> str:
    """`v0003` for version 3."""
    return f"v{version:04d}"


def parse_version(name: str) -> int | None:
    """Version number of a `v0003` folder name, or None for anything else."""
    m = _VERSION_RE.match(name)
    return int(m.group(1)) if m else None


def split_run_uri(run_uri: str) -> tuple[str, str]:
    """`s3://bucket/runs/demo` -> ("s3://bucket/runs", "demo"); `runs/demo` -> ("runs", "demo")."""
    uri = run_uri.rstrip("/")
    if not uri:
        raise ValueError("empty run URI")
    if ".." in uri.split("://", 1)[-1].split("/"):
        raise ValueError(
            f"run URI {run_uri!r} contains a '..' segment: runs are confined to their storage root; "
            f"give the run's folder without '..'"
        )
    head, _, run_id = uri.rpartition("/")
    if not head:
        head = "."
    elif head.endswith(":/"):  # s3://run-only
        raise ValueError(f"run URI {run_uri!r} needs a bucket and a run id, e.g. s3://bucket/run-id")
    return head, check_run_id(run_id)
