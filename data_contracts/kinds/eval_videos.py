"""Evaluation videos: one row per generated benchmark video (issue 8).

`span_prompts` are the J texts the executor was conditioned on (after smoothing, for smoothed modes);
`plan_steps` the planner's unsmoothed steps (empty for the global and ground-truth modes) with its
`plan_status`; `gt_steps` the benchmark's ground-truth steps when it has them. `video_path` is an mp4 inside
the artifact (null when videos are not written). The adapter sources name the committed artifacts (or folders)
the condition's planner and executor adapters came from.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="eval_videos",
    schema=pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("condition", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("checkpoint", pa.string(), nullable=False),
            pa.field("prompt_id", pa.string(), nullable=False),
            pa.field("subset", pa.string(), nullable=False),
            pa.field("category", pa.string(), nullable=False),
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("gt_steps", pa.list_(pa.string()), nullable=False),
            pa.field("plan_steps", pa.list_(pa.string()), nullable=False),
            pa.field("plan_status", pa.string(), nullable=True),
            pa.field("span_prompts", pa.list_(pa.string()), nullable=False),
            pa.field("num_steps", pa.int64(), nullable=False),
            pa.field("latent_frames_per_step", pa.int64(), nullable=False),
            pa.field("latent_frames", pa.int64(), nullable=False),
            pa.field("num_video_frames", pa.int64(), nullable=False),
            pa.field("video_path", pa.string(), nullable=True),
            pa.field("planner_source", pa.string(), nullable=False),
            pa.field("executor_source", pa.string(), nullable=False),
            pa.field("planner_adapter_version", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
        ]
    ),
    version=1,
    id_column="sample_id",
)
