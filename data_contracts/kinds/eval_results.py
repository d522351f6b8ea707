"""Evaluation results: one row per (video, judge, metric) of a benchmark run (issue 8).

`sample_id` = `<condition>/<subset>/<prompt_id>` names one generated video; `condition` is a (mode, checkpoint)
pair of the comparison. Judges are the temporal-following judges (metrics `score` = the aggregated R_video whose
mean is the Temporal-Following score, `frame_mean` and the five sub-scores) plus the aesthetic score (judge
`pickscore` or `image_stats`, metric of the same name). `value` is normalised to [0, 1]; `raw_value` is on the
judge's native scale (0–10 sub-scores; PickScore as configured, e.g. logit·cos). An unscored row has null values,
status `unscored` and a `reason` — never a 0.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="eval_results",
    schema=pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("condition", pa.string(), nullable=False),
            pa.field("prompt_id", pa.string(), nullable=False),
            pa.field("subset", pa.string(), nullable=False),
            pa.field("category", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("checkpoint", pa.string(), nullable=False),
            pa.field("judge", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("value", pa.float64(), nullable=True),
            pa.field("raw_value", pa.float64(), nullable=True),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=True),
        ]
    ),
    version=2,
    id_column="sample_id",
    score_columns=("value",),
)
