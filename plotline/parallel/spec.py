"""The one description of a worker process's work: `WorkerSpec`, written as JSON by the parent and read by
`python -m plotline.parallel.worker SPEC.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class WorkerSpec(BaseModel):
    """What one worker process runs: a registered job kind, the config sections it reads, its inputs and where it
    writes. Every value is JSON (floats round-trip exactly), so a worker rebuilds exactly the parent's objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    """Job kind, a key of the job registry (`plotline.parallel.jobs`)."""
    module: str
    """Module whose import registers `kind` (the worker imports it before dispatching)."""
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Config sections the job reads, by dotted config path (`executor`, `rl.planner`), as `model_dump(mode="json")`."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The job's parameters: local paths of verified inputs, seeds, versions, work items (JSON values only)."""
    out_dir: str
    """Local folder the job writes its files into (the parent reads them from there)."""
    workdir: str = ""
    """Work folder of the launch (error records, `results/`); set by the launcher."""
    shard: int = Field(default=0, ge=0)
    """Index of this worker's shard (under `accelerate launch` every rank reads the same spec; its rank comes from
    the process group)."""
    num_shards: int = Field(default=1, ge=1)
    """Number of shards (or data-parallel ranks) of the launch."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where the worker computes: `cuda` is the GPU the launcher pinned (`CUDA_VISIBLE_DEVICES`), `cpu` the CPU."""
    launcher: Literal["process", "accelerate"] = "process"
    """`process`: an independent shard process; `accelerate`: one rank of `accelerate launch` (a collective group)."""


def read_spec(path: str | Path) -> WorkerSpec:
    """The worker spec stored at `path`; a malformed one raises ValueError naming the file and the fields."""
    text = Path(path).read_text()
    try:
        return WorkerSpec.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"worker spec {path}: {exc}") from None
