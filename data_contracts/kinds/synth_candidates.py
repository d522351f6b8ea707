"""Synthesis candidates: one row per candidate instruction an LLM proposed (or per failed/unparsed request),
with the verdict of the synthesis checks (DESIGN §5 data, issue 8).

`status`: accepted (it became `instruction_id` in the instructions artifact, `split` set), rejected (`reason`
lists every failed check; `duplicate_of` names the accepted instruction it duplicates), unparsed (the reply held
no list of instructions; `prompt` null), failed (the request itself failed; `prompt` null).
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="synth_candidates",
    schema=pa.schema(
        [
            pa.field("candidate_id", pa.string(), nullable=False),
            pa.field("request_index", pa.int64(), nullable=False),
            pa.field("category", pa.string(), nullable=False),
            pa.field("requested_steps", pa.int64(), nullable=False),
            pa.field("prompt", pa.string(), nullable=True),
            pa.field("steps", pa.list_(pa.string()), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=True),
            pa.field("duplicate_of", pa.string(), nullable=True),
            pa.field("instruction_id", pa.string(), nullable=True),
            pa.field("split", pa.string(), nullable=True),
            pa.field("model", pa.string(), nullable=False),
        ]
    ),
    version=1,
    id_column="candidate_id",
)
