"""Evaluation results: one row per (video, judge, metric), normalised to [0, 1]; unscored rows carry a reason."""
import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="eval_results",
    schema=pa.schema([
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("subset", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("checkpoint", pa.string(), nullable=False),
        pa.field("judge", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=True),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=True),
    ]),
    version=1,
    id_column="sample_id",
    score_columns=("value",),
)
