"""What an artifact kind declares: its pyarrow schema, its GE suite, and the derived columns the suite checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass(frozen=True)
class ArtifactKind:
    """A data contract for one Parquet artifact kind.

    name: kind name (also the suite file `suites/<name>.json`).
    schema: the exact pyarrow schema every file of this kind is written with.
    version: schema version recorded in manifests; bump on any schema change.
    group_sizes: derived column name -> key columns; the column holds the size of the row's group so the suite
        can require complete groups (e.g. `_plans_per_instruction` from `instruction_id`, expected == $M).
    params: names of expectation parameters the suite needs at validation time (e.g. M, N).
    id_column: the column that identifies a row (used by `plotline audit` for best/worst samples).
    score_columns: numeric columns that `plotline audit` summarises (mean/std/min/max).
    directions: score column -> `higher` or `lower` (which way is better) for reward-like columns; only these are
        ranked into best/worst samples (losses, latencies and counters declare none and are never ranked).
    suite_dir: folder of the suite JSON when the kind is defined outside this package (plugins, tests).
    """

    name: str
    schema: pa.Schema
    version: int = 1
    group_sizes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    params: tuple[str, ...] = ()
    id_column: str | None = None
    score_columns: tuple[str, ...] = ()
    directions: dict[str, str] = field(default_factory=dict)
    suite_dir: Path | None = None

    @property
    def suite_path(self) -> Path:
        """Location of this kind's great-expectations suite JSON (data_contracts/suites unless suite_dir is set)."""
        return (self.suite_dir or SUITES_DIR) / f"{self.name}.json"
