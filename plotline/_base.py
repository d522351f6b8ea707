"""Base class for every typed configuration section."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section: unknown keys are rejected, assignments are validated, every number must be
    finite (NaN and ±inf are refused), and each field's docstring becomes its documented description."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        validate_assignment=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
    )
