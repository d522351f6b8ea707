"""Closed-loop generation with reflection (DESIGN §7: plan – act – reflect) and critic rewards for training.

- config: the `reflect` section (threshold, K, remedies, budgets, memory, critic, critic reward) and `generate`
- critic: the step-following judge (any backend) on one span vs its step prompt → Critique with feedback
- segments: a span's candidates generated as one batch from the forked KV cache; the frames the critic sees
- remedies: registry of what to do with a rejected span (`regenerate` best of K, `replan` via the planner)
- revise: registry of plan revisers (`planner`: the run's planner asked with the critique and the memory)
- budget / memory: per-video limits and counters; the critiques carried to later spans
- loop: ReflectiveGenerator, span by span with critique, remedies, memory and budget
- trail: the audit trail (`reflections` artifact kind) and its summaries (audit, evaluation report)
- reward: critic verdicts per span as an executor reward term (score stage rows of judge `critic`)
- open_loop: OpenLoopGenerator (one pass, no critic: the baseline) and the cost summary over videos

A leaf algorithm: it receives a built executor, critic and plan reviser (plotline.policy builds them) and
imports executor, planner and rewards only, never eval, policy or the stages.
"""
