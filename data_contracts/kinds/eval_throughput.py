"""Evaluation throughput: one row per (condition, subset) of a benchmark run (issue 8).

`generation_s` covers text encoding, chunked generation and decoding of the subset's videos (the executor's
work); `planning_s` the planner's share of the condition (0 for modes without a planner), split over subsets by
video count. `videos_per_s` and `latent_frames_per_s` are measured over `generation_s`.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="eval_throughput",
    schema=pa.schema(
        [
            pa.field("condition", pa.string(), nullable=False),
            pa.field("subset", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("checkpoint", pa.string(), nullable=False),
            pa.field("videos", pa.int64(), nullable=False),
            pa.field("latent_frames", pa.int64(), nullable=False),
            pa.field("generation_s", pa.float64(), nullable=False),
            pa.field("planning_s", pa.float64(), nullable=False),
            pa.field("videos_per_s", pa.float64(), nullable=False),
            pa.field("latent_frames_per_s", pa.float64(), nullable=False),
            pa.field("batch_size", pa.int64(), nullable=False),
            pa.field("device", pa.string(), nullable=False),
        ]
    ),
    version=1,
    id_column="condition",
    score_columns=("videos_per_s", "latent_frames_per_s"),
)
