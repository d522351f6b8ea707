"""Method ablation, summary: one row per condition of `plotline eval ablation` over all seeds (issue 19).

`mean` is the mean over seeds of the seeds' mean temporal-following scores and `delta` that of their paired
differences to the baseline; `lo`/`hi` and `delta_lo`/`delta_hi` are Student-t intervals over seeds
(`interval_over` = `seeds`), or over the prompts of the one seed (`prompts`). `seeds_above` counts the seeds whose
paired interval lies above 0. `reference` is TempAct's published score for the row (null where the paper has
none). Compute columns are summed over seeds.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="ablation_summary",
    schema=pa.schema(
        [
            pa.field("condition", pa.string(), nullable=False),
            pa.field("label", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("reflect", pa.bool_(), nullable=False),
            pa.field("variant", pa.string(), nullable=False),
            pa.field("judge", pa.string(), nullable=False),
            pa.field("seeds", pa.int64(), nullable=False),
            pa.field("interval_over", pa.string(), nullable=False),
            pa.field("mean", pa.float64(), nullable=True),
            pa.field("lo", pa.float64(), nullable=True),
            pa.field("hi", pa.float64(), nullable=True),
            pa.field("delta", pa.float64(), nullable=True),
            pa.field("delta_lo", pa.float64(), nullable=True),
            pa.field("delta_hi", pa.float64(), nullable=True),
            pa.field("seeds_above", pa.int64(), nullable=False),
            pa.field("reference", pa.float64(), nullable=True),
            pa.field("bootstrap_s", pa.float64(), nullable=True),
            pa.field("train_s", pa.float64(), nullable=True),
            pa.field("rl_steps", pa.int64(), nullable=False),
            pa.field("train_videos", pa.int64(), nullable=False),
            pa.field("eval_s", pa.float64(), nullable=True),
            pa.field("eval_videos", pa.int64(), nullable=False),
        ]
    ),
    version=1,
    id_column="condition",
    score_columns=("mean", "delta"),
    directions={"mean": "higher", "delta": "higher"},
)
