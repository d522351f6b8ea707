"""Planner sampling backends behind one interface; importing this package registers `local` and `openai`."""

from plotline.planner.backends import local as _local  # noqa: F401  (registers "local")
from plotline.planner.backends import openai as _openai  # noqa: F401  (registers "openai")
from plotline.planner.backends.base import (
    BackendContext,
    PlanRequest,
    PlanSampler,
    SampledPlan,
    available_backends,
    make_backend,
    register_backend,
)

__all__ = [
    "BackendContext",
    "PlanRequest",
    "PlanSampler",
    "SampledPlan",
    "available_backends",
    "make_backend",
    "register_backend",
]
