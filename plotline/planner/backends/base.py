"""The sampling-backend interface and its registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from plotline.planner.config import PlannerConfig
from plotline.progress import Progress, no_progress

if TYPE_CHECKING:
    from plotline.planner.model import Planner


@dataclass(frozen=True)
class PlanRequest:
    """One plan to sample: plan `plan_index` of instruction `instruction_id`, with its own seed."""

    instruction_id: str
    instruction: str
    plan_index: int
    seed: int
    prompt_ids: tuple[int, ...]
    """The rendered chat prompt (generation prompt included) as token ids."""
    messages: tuple[dict, ...] = ()
    """The same prompt as chat messages (what an OpenAI-compatible server receives)."""


@dataclass
class SampledPlan:
    """What a backend returns for one request; `error` is set (and the ids empty) when sampling failed."""

    request: PlanRequest
    raw_text: str = ""
    completion_ids: list[int] = field(default_factory=list)
    finish_reason: str = ""
    adapter_version: str = ""
    error: str | None = None


@dataclass
class BackendContext:
    """Everything a backend factory may need: config, tokenizer, optional in-process planner, adapter."""

    config: PlannerConfig
    tokenizer: Any  # a transformers tokenizer
    adapter_version: str
    planner: Planner | None = None
    adapter_path: str | None = None
    adapter_private: bool = False
    """The adapter folder is this process's private copy (a remote store's download cache), which a model server
    cannot be assumed to read."""


class PlanSampler(Protocol):
    """A sampling backend: turns plan requests into sampled plans (one per request, same order)."""

    name: str

    def sample(self, requests: list[PlanRequest], progress: Progress = no_progress) -> list[SampledPlan]:
        """Sample one completion per request, reporting plans done of `len(requests)` to `progress`."""
        ...


BackendFactory = Callable[[BackendContext], PlanSampler]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator registering a backend factory under `name`."""

    def deco(factory: BackendFactory) -> BackendFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"planner backend {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def available_backends() -> list[str]:
    """Names of the registered sampling backends."""
    return sorted(_REGISTRY)


def make_backend(name: str, context: BackendContext) -> PlanSampler:
    """Instantiate the backend registered as `name` (a ValueError lists the known names)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown planner backend {name!r}; known backends: {', '.join(available_backends())}")
    return _REGISTRY[name](context)
