"""Planner errors: every message names the offending value."""

from __future__ import annotations


class PlannerError(ValueError):
    """Base class of planner input and setup errors."""


class PlannerInputError(PlannerError):
    """An instruction the planner cannot take (empty, or longer than the context)."""


class ChatTemplateMissing(PlannerError):
    """The tokenizer has no chat template, so a planner prompt cannot be rendered."""


class AdapterMismatch(PlannerError):
    """An adapter was trained on a different base model than the one being loaded."""
