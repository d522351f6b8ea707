"""LLM planner: prompts, sampling backends, parsing, masks, log-probs.

Submodules (import them directly): `config`, `prompts`, `parsing`, `masks`, `model`, `loading`,
`logprobs`, `backends`, `sampling`, `records`, `training`.
"""
