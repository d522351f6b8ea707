"""RL objectives: GSPO (planner), Flow-GRPO (executor), group advantages."""
