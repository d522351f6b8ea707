"""The policy: one home for loading and running planner + executor (base model, planner adapter, executor
adapter) above the algorithms and below evaluation and the stages.

- reference: which base and adapters a policy is, from the stage's pinned inputs (never the store's `latest`)
- planners: the one planner loader (re-exported from plotline.planner.loading), plans for prompts, the reviser
- spans: span conditioning with the one smoother and the one joiner (`planner.smooth_joiner`)
- executors: the executor of a policy reference (base DiT + executor adapter)
- render: videos from a policy, open loop (batched) or with reflection (plotline.reflect receives the pieces)

Imports executor, planner, reflect, rewards, store and data_contracts; never eval, stages, flows or the CLI.
"""
