"""LLM planner: prompts, sampling backends, parsing, masks, log-probs, and its GSPO training.

Submodules (import them directly): `config`, `prompts`, `parsing`, `masks`, `model`, `loading` (the one planner
loader), `logprobs`, `backends`, `sampling`, `records`, `training` (a GSPO step on a loaded planner), `sharding`
(plan shards, job `plan_shard`), `gspo_job` (the update_planner job, `planner_update`). The GSPO objective itself
lives in `plotline.rl`; this package imports it, never the other way round.
"""
