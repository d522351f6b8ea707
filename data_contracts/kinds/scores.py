"""Scores: one row per judged item of a step — a plan judged by the plan judge, or a continuation judged by
the temporal-following judge, the step-following judge or PickScore (DESIGN §2 score, §5), and, with
`reflect.critic_reward`, by the reflection critic over its spans (judge `critic`: per-span scores and verdicts
in fields_json, the raw replies as a JSON list in `raw`).

`fields_json` holds the parsed values on the judge's native scale (plan 0–1, video judges 0–10) so the
advantage stage can re-aggregate with any weights; `score` is the [0, 1] aggregate under the weights in force
when scoring. An unscored item has status `unscored`, null `score` and a `reason` — never a 0. `raw` keeps the
judge's reply verbatim (null when the call failed); `cache_key` = sha256(model, prompt, frames hash).
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="scores",
    schema=pa.schema(
        [
            pa.field("score_id", pa.string(), nullable=False),
            pa.field("judge", pa.string(), nullable=False),
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("plan_id", pa.string(), nullable=False),
            pa.field("rollout_id", pa.string(), nullable=True),
            pa.field("status", pa.string(), nullable=False),
            pa.field("score", pa.float64(), nullable=True),
            pa.field("reason", pa.string(), nullable=True),
            pa.field("fields_json", pa.string(), nullable=False),
            pa.field("raw", pa.string(), nullable=True),
            pa.field("model", pa.string(), nullable=False),
            pa.field("cache_key", pa.string(), nullable=False),
            pa.field("n_frames", pa.int64(), nullable=False),
            pa.field("latency_s", pa.float64(), nullable=False),
            pa.field("attempts", pa.int64(), nullable=False),
            pa.field("cached", pa.bool_(), nullable=False),
        ]
    ),
    version=1,
    id_column="score_id",
    score_columns=("score", "latency_s"),
    directions={"score": "higher"},
)
