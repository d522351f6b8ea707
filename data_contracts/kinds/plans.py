"""Plans: M sampled plans per instruction, each with J parsed and smoothed steps, tokens, mask and old log-probs.

Row = plan s^m of instruction c (DESIGN §2 plan). `steps` are the unsmoothed steps (the plan judge's input),
`smoothed_steps` the executor's conditioning (Smooth(s_j, s_{j+1}), s_J last); both hold exactly `num_steps`
strings. `completion_mask` marks the trained tokens (thinking block excluded). `old_logprobs` are fp32 log-probs
of the completion under the sampling weights; null when the `openai` backend sampled (update_planner fills them
after asserting the adapter version). A plan whose sampling failed has parse_status `failed`, `error` set,
empty token lists and the global prompt in every step.
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="plans",
    schema=pa.schema(
        [
            pa.field("plan_id", pa.string(), nullable=False),
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("plan_index", pa.int64(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("num_steps", pa.int64(), nullable=False),
            pa.field("steps", pa.list_(pa.string()), nullable=False),
            pa.field("smoothed_steps", pa.list_(pa.string()), nullable=False),
            pa.field("format_reward", pa.float64(), nullable=False),
            pa.field("parse_status", pa.string(), nullable=False),
            pa.field("raw_text", pa.string(), nullable=False),
            pa.field("prompt_token_ids", pa.list_(pa.int32()), nullable=False),
            pa.field("completion_token_ids", pa.list_(pa.int32()), nullable=False),
            pa.field("completion_mask", pa.list_(pa.int8()), nullable=False),
            pa.field("old_logprobs", pa.list_(pa.float32()), nullable=True),
            pa.field("adapter_version", pa.string(), nullable=False),
            pa.field("backend", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("finish_reason", pa.string(), nullable=False),
            pa.field("error", pa.string(), nullable=True),
        ]
    ),
    version=1,
    group_sizes={"_plans_per_instruction": ("instruction_id",)},
    params=("M",),
    id_column="plan_id",
    score_columns=("format_reward",),
    directions={"format_reward": "higher"},
)
