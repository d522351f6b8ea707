"""Advantages: one row per planner sample (a plan) and per executor sample (a continuation) of a step.

`role` is `planner` (group = instruction, over its M plans) or `executor` (group = plan, over its N
continuations). `reward` is R_plan / R_exec (null when unscored), `advantage` the clipped group-relative
advantage (null when the sample is dropped), `keep` whether it enters the policy update. `zero_variance` flags
members of groups with no reward spread; `self_paced_weights` the curriculum weights of the sample's group
(empty when the curriculum is off). Batch diagnostics are in the manifest summary.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="advantages",
    schema=pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("role", pa.string(), nullable=False),
            pa.field("group_id", pa.string(), nullable=False),
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("plan_id", pa.string(), nullable=False),
            pa.field("reward", pa.float64(), nullable=True),
            pa.field("advantage", pa.float64(), nullable=True),
            pa.field("keep", pa.bool_(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("zero_variance", pa.bool_(), nullable=False),
            pa.field("self_paced_weights", pa.list_(pa.float64()), nullable=False),
        ]
    ),
    version=1,
    id_column="sample_id",
    score_columns=("advantage", "reward"),
    directions={"reward": "higher", "advantage": "higher"},
)
