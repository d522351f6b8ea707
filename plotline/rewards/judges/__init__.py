"""Judge backends (`local`, `openai`, `programmatic`) behind a registry, the three judge prompts, and the scorer."""

from plotline.rewards.judges.base import JudgeBackend, JudgeRequest, JudgeResponse
from plotline.rewards.judges.registry import available_backends, create_backend, register_backend

__all__ = ["JudgeBackend", "JudgeRequest", "JudgeResponse", "available_backends", "create_backend", "register_backend"]
