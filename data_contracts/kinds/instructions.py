"""Instructions: one global prompt per row, with optional ground-truth steps."""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="instructions",
    schema=pa.schema(
        [
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("category", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("steps", pa.list_(pa.string()), nullable=False),
            pa.field("source", pa.string(), nullable=False),
        ]
    ),
    version=1,
    id_column="instruction_id",
)
