"""Method ablation, per seed: one row per (condition, seed) of `plotline eval ablation` (issue 19).

`mean` is the condition's mean temporal-following score over the seed's held-out prompts (judge `judge`, metric
`score`), `lo`/`hi` its Student-t interval over prompts; `delta` is the mean paired difference to the baseline
condition on the same prompts and noise, `delta_lo`/`delta_hi` its interval. `evaluation` is the URI of the
evaluate artifact the numbers were read from. Compute: wall seconds of the seed's shared setup stages
(`bootstrap_s`), of the condition's RL stages (`train_s`), RL steps, continuations rendered in training, evaluation
seconds (planning + generation) and videos. Intervals are null with fewer than two prompts.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="ablation_seeds",
    schema=pa.schema(
        [
            pa.field("condition", pa.string(), nullable=False),
            pa.field("label", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("reflect", pa.bool_(), nullable=False),
            pa.field("variant", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("judge", pa.string(), nullable=False),
            pa.field("prompts", pa.int64(), nullable=False),
            pa.field("mean", pa.float64(), nullable=True),
            pa.field("lo", pa.float64(), nullable=True),
            pa.field("hi", pa.float64(), nullable=True),
            pa.field("pairs", pa.int64(), nullable=False),
            pa.field("delta", pa.float64(), nullable=True),
            pa.field("delta_lo", pa.float64(), nullable=True),
            pa.field("delta_hi", pa.float64(), nullable=True),
            pa.field("bootstrap_s", pa.float64(), nullable=True),
            pa.field("train_s", pa.float64(), nullable=True),
            pa.field("rl_steps", pa.int64(), nullable=False),
            pa.field("train_videos", pa.int64(), nullable=False),
            pa.field("eval_s", pa.float64(), nullable=True),
            pa.field("eval_videos", pa.int64(), nullable=False),
            pa.field("evaluation", pa.string(), nullable=False),
        ]
    ),
    version=1,
    id_column="condition",
    score_columns=("mean", "delta"),
    directions={"mean": "higher", "delta": "higher"},
)
