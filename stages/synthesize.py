"""synthesize stage: LLM-backed synthesis of temporally structured instructions (issue 8).

Writes `instructions.parquet` (kind `instructions`, train/eval split, ground-truth steps) and
`candidates.parquet` (kind `synth_candidates`: every candidate with its verdict). Replies are journaled next
to the stage's versions (`step=N/synthesize/_journal/<spec key>/`, never an artifact) so a killed run resumes
without asking again; a second run with the same spec replays the journal and commits the same selection.
"""
from __future__ import annotations

import json
import posixpath

from plotline.config import PlotlineConfig
from plotline.data.synth import ReplyJournal, journal_key, make_backend, synthesize
from plotline.data.synth_config import synth_section
from plotline.store.layout import stage_prefix
from stages.base import StageContext, StageSpec, register

NAME = "synthesize"
_MOUNTED = "synth" in PlotlineConfig.model_fields


def journal_prefix(ctx: StageContext, cfg) -> str:
    """Store-relative folder of this spec's reply journal."""
    return posixpath.join(stage_prefix(ctx.store.run_id, ctx.step, NAME), "_journal", journal_key(cfg))


def run(ctx: StageContext) -> None:
    """Synthesise instructions to the configured target and write them with the candidate log."""
    cfg = synth_section(ctx.config)
    journal = ReplyJournal(ctx.store.fs, journal_prefix(ctx, cfg)) if cfg.journal else None
    result = synthesize(cfg, make_backend(cfg), journal,
                        progress=lambda it, total, desc: ctx.progress(it, total=total, description=desc))
    ctx.output.write_table("instructions.parquet", "instructions", result.instructions)
    ctx.output.write_table("candidates.parquet", "synth_candidates", result.candidates)
    ctx.output.summary.update(result.summary)


def _cache_extra(config) -> str:
    return "" if _MOUNTED else json.dumps(synth_section(config).model_dump(mode="json"), sort_keys=True)


register(StageSpec(
    name=NAME,
    summary="Synthesise ordered-event instructions with an LLM (validated, deduplicated, resumable)",
    inputs=(),
    outputs=("instructions", "synth_candidates"),
    config_sections=("synth",) if _MOUNTED else (),
    run=run,
    cache_extra=None if _MOUNTED else _cache_extra,
))
