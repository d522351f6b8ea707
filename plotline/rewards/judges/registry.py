"""Judge backend registry: `register_backend(name)` decorates a factory `(RewardsConfig) -> JudgeBackend`."""

from __future__ import annotations

from collections.abc import Callable

from plotline.rewards.config import RewardsConfig
from plotline.rewards.judges.base import JudgeBackend

BackendFactory = Callable[[RewardsConfig], JudgeBackend]
_BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a backend factory under `name` (a second registration of the same name is an error)."""

    def deco(factory: BackendFactory) -> BackendFactory:
        if name in _BACKENDS and _BACKENDS[name] is not factory:
            raise ValueError(f"judge backend {name!r} is already registered")
        _BACKENDS[name] = factory
        return factory

    return deco


def available_backends() -> list[str]:
    """Names of the registered judge backends."""
    _load_builtin()
    return sorted(_BACKENDS)


def create_backend(config: RewardsConfig, name: str | None = None) -> JudgeBackend:
    """Build the backend `name` (default `config.judge_backend`), naming the choices on a miss; wrapped in a
    `DelayedBackend` when `rewards.emulated_latency_s` > 0."""
    _load_builtin()
    name = name or config.judge_backend
    if name not in _BACKENDS:
        raise ValueError(f"unknown judge backend {name!r}; registered: {', '.join(sorted(_BACKENDS))}")
    backend = _BACKENDS[name](config)
    if config.emulated_latency_s > 0:  # benchmark/test knob: emulate a remote judge server's latency
        from plotline.rewards.judges.delayed import DelayedBackend

        return DelayedBackend(backend, config.emulated_latency_s)
    return backend


def _load_builtin() -> None:
    # importing the modules runs their @register_backend decorators
    from plotline.rewards.judges import local, openai_backend, programmatic  # noqa: F401
