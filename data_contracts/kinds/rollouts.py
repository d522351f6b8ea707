"""Rollouts: one row per continuation n of plan m (DESIGN §2 rollout).

The N continuations of a plan share a prefix generated once (fork at latent frame `fork_frame` = k, where
span `switch_step` = j starts). `group_path` is a safetensors file of the plan's group: `prefix` [1, C, k, h, w]
clean latents, and for the transition chunk `states` [N, S, C, f, h, w] (x_t per step), `velocities` (v_old),
`logprobs` [N, S−1] fp32, `sigmas` [S]; `group_index` is this row's index in it. `video_path` is the decoded
mp4, `frames_path` the group's safetensors with `frames` [N, n, H, W, 3] uint8 sampled over the whole video (first to last
frame) at `sampled_frame_indices`. `span_prompts`/`span_starts` are the conditioning texts and their first
latent frames. `executor_adapter_version` names the adapter that generated the row ("base" without one).
"""

import pyarrow as pa

from data_contracts.kind import ArtifactKind

KIND = ArtifactKind(
    name="rollouts",
    schema=pa.schema(
        [
            pa.field("rollout_id", pa.string(), nullable=False),
            pa.field("plan_id", pa.string(), nullable=False),
            pa.field("instruction_id", pa.string(), nullable=False),
            pa.field("continuation_index", pa.int64(), nullable=False),
            pa.field("prompt", pa.string(), nullable=False),
            pa.field("switch_step", pa.int64(), nullable=False),
            pa.field("fork_frame", pa.int64(), nullable=False),
            pa.field("num_latent_frames", pa.int64(), nullable=False),
            pa.field("transition_start", pa.int64(), nullable=False),
            pa.field("transition_end", pa.int64(), nullable=False),
            pa.field("step_prompt", pa.string(), nullable=False),
            pa.field("span_prompts", pa.list_(pa.string()), nullable=False),
            pa.field("span_starts", pa.list_(pa.int64()), nullable=False),
            pa.field("video_path", pa.string(), nullable=True),
            pa.field("num_video_frames", pa.int64(), nullable=False),
            pa.field("frames_path", pa.string(), nullable=False),
            pa.field("sampled_frame_indices", pa.list_(pa.int64()), nullable=False),
            pa.field("group_path", pa.string(), nullable=False),
            pa.field("group_index", pa.int64(), nullable=False),
            pa.field("logprobs_old", pa.list_(pa.float64()), nullable=False),
            pa.field("sigmas", pa.list_(pa.float64()), nullable=False),
            pa.field("backbone", pa.string(), nullable=False),
            pa.field("executor_adapter_version", pa.string(), nullable=False),
            pa.field("planner_adapter_version", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
        ]
    ),
    version=1,
    group_sizes={"_continuations_per_plan": ("plan_id",)},
    params=("N",),
    id_column="rollout_id",
)
