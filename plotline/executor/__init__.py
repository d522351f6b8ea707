"""AR video diffusion executor: causal DiT, KV cache, sampler, rollouts, log-probs."""
