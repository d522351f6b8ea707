"""The one way a planner is opened for sampling: base model + adapter, tokenizer, context length and the
configured sampling backend.

Every caller (the plan stage, `sharding.sample_local`, the evaluation's planner conditions, the reflection's plan
reviser, the generate stage) goes through `open_planner`; `plotline.policy.planners` re-exports it as the policy's
planner loader. It lives in the planner package so that `sample_local` (below the policy layer) can call it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from plotline.planner.config import PlannerConfig


@dataclass
class OpenedPlanner:
    """A planner ready to sample: its sampling backend, tokenizer, adapter version and context length; `model`
    is the in-process planner (PlannerModel) for the `local` backend, None for a served one."""

    backend: object
    tokenizer: object
    adapter_version: str
    context_length: int | None
    model: object = None


def served_context_length(base_model: str) -> int | None:
    """`max_position_embeddings` of the base model's transformers config (None when it has none)."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(base_model), "max_position_embeddings", None)


def open_planner(
    config: PlannerConfig, adapter: str | None, *, lora_seed: int = 0, adapter_private: bool = False
) -> OpenedPlanner:
    """Open the planner of `config` with `adapter` (a local adapter folder; None: a fresh LoRA seeded by
    `lora_seed` for the `local` backend, the base model for a served one) behind `config.backend`.

    `local` loads the weights in this process (frozen); any other backend loads only the tokenizer and reads the
    context length from the base model's config. `adapter_private` tells a served backend that the adapter
    folder is this process's private copy (see BackendContext)."""
    from plotline.planner.backends import BackendContext, make_backend
    from plotline.planner.model import adapter_version, load_planner_from_config, load_tokenizer

    if config.backend == "local":
        model = load_planner_from_config(config, adapter, trainable=False, seed=lora_seed)
        tokenizer, version, context = model.tokenizer, model.adapter_version, model.context_length
    else:
        model, tokenizer, version = None, load_tokenizer(config.base_model), adapter_version(adapter)
        context = served_context_length(config.base_model)
    backend = make_backend(
        config.backend,
        BackendContext(
            config, tokenizer, version, planner=model, adapter_path=adapter, adapter_private=adapter_private
        ),
    )
    return OpenedPlanner(backend, tokenizer, version, context, model)
