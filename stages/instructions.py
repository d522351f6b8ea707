"""instructions stage: materialise the run's instructions artifact from the configured source (once per run)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from plotline.data.sources import get_source
from stages.base import StageContext, StageSpec, register


def run(ctx: StageContext) -> None:
    """Write instructions.parquet from `data.source` (file import, world generator, ...)."""
    source = get_source(ctx.config.data.source)
    rows = source.read(*(getattr(ctx.config, name) for name in source.sections))
    ctx.output.write_table("instructions.parquet", "instructions", rows)
    ctx.output.summary.update(
        {"rows": len(rows), "splits": dict(Counter(r["split"] for r in rows)), "source": ctx.config.data.source}
    )


def source_digest(config) -> str:
    """sha256 of the imported file (so an edited file is re-imported even under the same config)."""
    if config.data.source != "file" or not config.data.path or not Path(config.data.path).is_file():
        return ""
    return hashlib.sha256(Path(config.data.path).read_bytes()).hexdigest()


register(
    StageSpec(
        name="instructions",
        summary="Materialise the instructions artifact from data.source (a prompt file or a generator)",
        inputs=(),
        outputs=("instructions",),
        config_sections=("data", "world", "seed"),
        run=run,
        cache_extra=source_digest,
    )
)
