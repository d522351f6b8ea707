"""Planner configuration (Qwen3 + LoRA step planner)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from plotline._base import Section, placement

DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class PlannerLoraConfig(Section):
    """PEFT LoRA adapter trained on top of the frozen Qwen3 base (paper: r 32, α 64)."""

    rank: int = Field(32, ge=1)
    """r: LoRA rank."""
    alpha: float = Field(64.0, gt=0)
    """α: LoRA scaling numerator (the update is scaled by α / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the LoRA input during training."""
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))
    """Module names that get adapters: the attention (q/k/v/o) and MLP (gate/up/down) projections."""


class PlannerOpenAIConfig(Section):
    """OpenAI-compatible sampling server (vLLM with LoRA hot-loading, or `transformers serve`)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    """Endpoint root including `/v1`."""
    model: str | None = None
    """Served base-model name sent as `model` when no adapter is used (default: `planner.base_model`)."""
    api_key_env: str = "PLOTLINE_PLANNER_API_KEY"
    """Environment variable holding the API key (the key itself never enters a config)."""
    adapter_name_prefix: str = "plotline-planner"
    """With an adapter, requests name the model `<prefix>-<adapter_version>`, so every request carries the version."""
    load_adapter: bool = True
    """POST the adapter to `/v1/load_lora_adapter` (vLLM runtime LoRA loading) before sampling with it."""
    adapter_path_on_server: str | None = None
    """Fixed adapter directory as the server sees it, sent as is for every version (default: unset; prefer
    `shared_adapter_dir`, which follows the adapter version)."""
    shared_adapter_dir: str | None = None
    """Local folder on a volume the model server also mounts. The plan stage copies the adapter it samples with
    into `<shared_adapter_dir>/<adapter_name_prefix>-<version>/` and asks the server to load that copy. Required
    when the adapter comes from a remote store (s3://): its local copy then sits in this container's download
    cache, which the server cannot read."""
    shared_adapter_dir_on_server: str | None = None
    """The same folder as the server sees it (its mount point); None = the same path as `shared_adapter_dir`."""
    timeout_s: float = placement(120.0, gt=0)
    """Per-request timeout in seconds."""
    max_retries: int = Field(2, ge=0)
    """Retries after a retryable failure (timeout, connection error, 429, 5xx); then the plan is marked failed."""
    backoff_s: float = Field(0.5, ge=0)
    """First retry delay in seconds; doubles on every retry."""
    max_concurrency: int = placement(8, ge=1)
    """Requests in flight at once."""
    return_token_ids: bool = False
    """Ask the server for the sampled token ids (vLLM `return_token_ids`); otherwise the text is re-tokenised."""


class PlannerConfig(Section):
    """LLM planner that turns a global instruction into J span-aware step prompts."""

    backend: str = "local"
    """Sampling backend name from the planner backend registry (`local`, `openai`)."""
    num_plans: int = Field(4, ge=1)
    """M: plans sampled per instruction (the planner's GRPO group size)."""
    base_model: str | None = None
    """Local directory of the Qwen3 base model (config, weights, tokenizer with a chat template)."""
    cold_start_adapter: str | None = None
    """Local directory of the cold-start LoRA adapter (the starting planner); None starts from a fresh adapter."""
    lora: PlannerLoraConfig = Field(default_factory=PlannerLoraConfig)
    """Shape of a freshly created adapter (ignored when an adapter is loaded: its own config wins)."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature."""
    top_p: float = Field(0.7, gt=0, le=1)
    """Nucleus sampling mass."""
    max_new_tokens: int = Field(512, ge=1)
    """Upper bound on generated tokens per plan (thinking included)."""
    max_prompt_tokens: int | None = Field(None, ge=1)
    """Longest accepted chat prompt in tokens; None = the model's context minus `max_new_tokens`."""
    enable_thinking: bool = False
    """Qwen3 thinking mode: when off, the prompt pre-fills an empty `<think></think>` block."""
    smooth_joiner: str = " "
    """Text placed between s_j and s_{j+1} when span j is conditioned on Smooth(s_j, s_{j+1})."""
    batch_size: int = Field(16, ge=1)
    """Sequences per `generate` call in the local backend (prompts × plans, left padded)."""
    logprob_batch_size: int = Field(8, ge=1)
    """Sequences per fp32 forward pass when recording old log-probs."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weights dtype for sampling and training; log-probs are always computed in fp32 from the logits."""
    device: str = "auto"
    """Torch device (`auto` = cuda when available, else cpu)."""
    num_shards: int = placement(1, ge=1)
    """`local` backend: processes the plan stage splits the instructions over. 1: sample in the stage's own
    process. N > 1: N concurrent worker processes, each pinned to one GPU (`shard_devices`) or to the CPU, each
    sampling a contiguous run of instructions cut at `batch_size` boundaries, so the merged plans equal an
    unsharded run with the same seeds."""
    shard_devices: list[int] | None = placement(None)
    """CUDA device indices the plan shards are pinned to, round-robin (None: every visible GPU). Ignored, and
    every shard runs on the CPU, when `device` is `cpu` or no GPU is visible."""
    openai: PlannerOpenAIConfig = Field(default_factory=PlannerOpenAIConfig)
    """Settings of the `openai` backend."""
