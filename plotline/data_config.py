"""Where training instructions come from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section


class DataConfig(Section):
    """Source of the instructions artifact."""

    source: Literal["world", "file", "artifact"] = "world"
    """`world`: generate shapes-world instructions; `file`: import `path` (CSV, Parquet or JSONL with a `prompt` column);
    `artifact`: reuse a committed instructions artifact (e.g. from the synthesize stage) named by `path`."""
    path: str | None = None
    """File to import when source is `file`; committed artifact (version folder URI) when source is `artifact`."""
    split: Literal["train", "eval"] = "train"
    """Split label recorded for imported rows."""
    instructions_per_step: int | None = Field(None, ge=1)
    """Train instructions each RL step plans for (a batch drawn epoch by epoch from a seeded permutation of the
    pool, `plotline.data.step_batches`); None = every train instruction at every step."""
