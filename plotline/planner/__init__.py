"""LLM planner: prompts, sampling backends, parsing, log-probs."""
