"""RL objectives: GSPO (planner), Flow-GRPO (executor), group advantages; plus the executor's Flow-GRPO update job
(`flow_grpo_job`, job `executor_update`). Imports no planner code: the planner's update job lives in
`plotline.planner.gspo_job`."""
