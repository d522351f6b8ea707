"""synthesize stage: LLM-backed synthesis of temporally structured instructions.

Writes `instructions.parquet` (kind `instructions`, train/eval split, ground-truth steps) and
`candidates.parquet` (kind `synth_candidates`: every candidate with its verdict). Replies are journaled next
to the stage's versions (`step=N/synthesize/_journal/<spec key>/`, never an artifact) so a killed run resumes
without asking again; a second run with the same spec replays the journal and commits the same selection.
"""

from __future__ import annotations

import posixpath

from plotline.data.synth import ReplyJournal, journal_key, make_backend, synthesize
from plotline.store.layout import stage_prefix
from stages.base import StageContext, StageSpec, register

NAME = "synthesize"


def journal_prefix(ctx: StageContext, cfg) -> str:
    """Store-relative folder of this spec's reply journal."""
    return posixpath.join(stage_prefix(ctx.store.run_id, ctx.step, NAME), "_journal", journal_key(cfg))


def run(ctx: StageContext) -> None:
    """Synthesise instructions to the configured target and write them with the candidate log."""
    cfg = ctx.config.synth
    journal = ReplyJournal(ctx.store.fs, journal_prefix(ctx, cfg)) if cfg.journal else None
    result = synthesize(
        cfg,
        make_backend(cfg),
        journal,
        progress=lambda it, total, desc: ctx.progress(it, total=total, description=desc),
    )
    ctx.output.write_table("instructions.parquet", "instructions", result.instructions)
    ctx.output.write_table("candidates.parquet", "synth_candidates", result.candidates)
    ctx.output.summary.update(result.summary)


register(
    StageSpec(
        name=NAME,
        summary="Synthesise ordered-event instructions with an LLM (validated, deduplicated, resumable)",
        inputs=(),
        outputs=("instructions", "synth_candidates"),
        config_sections=("synth",),
        run=run,
    )
)
