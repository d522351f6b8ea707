"""LLM planner: prompts, sampling backends, parsing, masks, log-probs.

Submodules (import them directly): `config`, `prompts`, `parsing`, `smoothing`, `masks`, `model`,
`logprobs`, `backends`, `sampling`, `records`, `training`.
"""
