"""Base class for every typed configuration section."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


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


CACHE_KEY = "cache_key"
"""`json_schema_extra` flag of a field: False when the field only decides where or how parallel a computation runs."""


def placement(default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A pydantic Field that only decides where or how parallel a computation runs (shard counts, device lists,
    process counts, concurrency, timeouts): the results are the same under any value, so cache keys leave it out."""
    return Field(default, json_schema_extra={CACHE_KEY: False}, **kwargs)


def in_cache_key(info: FieldInfo) -> bool:
    """Whether a field's value enters cache keys (every field not declared with `placement`)."""
    extra = info.json_schema_extra
    return not (isinstance(extra, dict) and extra.get(CACHE_KEY) is False)


def cache_key_exclusions(model: BaseModel) -> dict[str, Any]:
    """The `model_dump(exclude=...)` spec that drops every placement field of `model` and of its nested sections."""
    spec: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if not in_cache_key(info):
            spec[name] = True
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            inner: Any = cache_key_exclusions(value)
        elif isinstance(value, (list, tuple)):
            inner = {
                i: sub for i, v in enumerate(value) if isinstance(v, BaseModel) and (sub := cache_key_exclusions(v))
            }
        elif isinstance(value, dict):
            inner = {k: sub for k, v in value.items() if isinstance(v, BaseModel) and (sub := cache_key_exclusions(v))}
        else:
            inner = None
        if inner:
            spec[name] = inner
    return spec
