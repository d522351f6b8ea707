"""Reflections: the audit trail of closed-loop generation (DESIGN §7), one row per event of one video, in order
(`seq`): `critique` (one critic call on candidate `candidate` of span `span`: its `score` in [0, 1] or null when
unscored with `status` and `reason`, the `feedback` derived from the reply, the verbatim `raw` reply and the
`memory` notes the critic was shown), `decision` (`accept`, `regenerate` or `replan`, with the `reason` and any
`budget` limits that blocked a remedy), `revision` (one planner revision: the revised `steps`, parse `status`,
`raw` reply), `choice` (the candidate the span keeps and its score) and `final` (the finished video: mean chosen
score, final `steps`, `video_path`, budget limits hit). `round` counts remedies applied to the span; span is −1
on `final` rows. Every row carries the video's running counters after the event (`critic_calls`,
`chunk_generations`, `regenerations`, `replans`) and `base_chunks`, the chunks of one open-loop pass of the video,
so extra compute = chunk_generations / base_chunks. `condition` names the evaluation condition (or `generate`).
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="reflections",
    schema=pa.schema(
        [
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("condition", pa.string(), nullable=False),
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("span", pa.int64(), nullable=False),
            pa.field("round", pa.int64(), nullable=False),
            pa.field("event", pa.string(), nullable=False),
            pa.field("candidate", pa.int64(), nullable=True),
            pa.field("step_prompt", pa.string(), nullable=True),
            pa.field("score", pa.float64(), nullable=True),
            pa.field("status", pa.string(), nullable=True),
            pa.field("decision", pa.string(), nullable=True),
            pa.field("reason", pa.string(), nullable=True),
            pa.field("feedback", pa.string(), nullable=True),
            pa.field("memory", pa.list_(pa.string()), nullable=False),
            pa.field("steps", pa.list_(pa.string()), nullable=False),
            pa.field("raw", pa.string(), nullable=True),
            pa.field("budget", pa.string(), nullable=True),
            pa.field("latency_s", pa.float64(), nullable=False),
            pa.field("video_path", pa.string(), nullable=True),
            pa.field("base_chunks", pa.int64(), nullable=False),
            pa.field("critic_calls", pa.int64(), nullable=False),
            pa.field("chunk_generations", pa.int64(), nullable=False),
            pa.field("regenerations", pa.int64(), nullable=False),
            pa.field("replans", pa.int64(), nullable=False),
        ]
    ),
    version=1,
    id_column="event_id",
    score_columns=("score", "critic_calls", "chunk_generations"),
    directions={"score": "higher"},
)
