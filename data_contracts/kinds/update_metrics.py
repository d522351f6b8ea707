"""Update metrics: long-format (role, iteration, metric, value) rows written by the policy updates."""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="update_metrics",
    schema=pa.schema(
        [
            pa.field("role", pa.string(), nullable=False),
            pa.field("iteration", pa.int64(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    ),
    version=1,
    id_column="metric",
    score_columns=("value",),
)
