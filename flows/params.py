"""Typed parameters of the stage flows, and how flow parameters resolve into a validated configuration.

Only references cross Prefect: a run URI, a step, configuration (a resolved config and/or presets + overrides) and
the URIs of committed input manifests. Data always stays in the store.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plotline.config import ConfigError, PlotlineConfig, load_config, parse_override

STAGE_MODULES_ENV = "PLOTLINE_STAGE_MODULES"
DEFAULT_PRESET = Path("configs") / "shapes.yaml"


class StageParams(BaseModel):
    """Parameters of one stage flow run (what a deployment run or a parent flow passes)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)  # the docstrings describe the UI form

    run_uri: str
    """Run folder: an absolute local path (a worker runs in a temporary directory) or s3://bucket/prefix/run-id."""
    step: int = Field(0, ge=0)
    """Training step."""
    config: dict[str, Any] = Field(default_factory=dict)
    """A resolved configuration (as `plotline config show` prints it); empty = `config_files` (or the default preset)."""
    config_files: list[str] = Field(default_factory=list)
    """YAML presets merged in order when `config` is empty (paths as the worker sees them)."""
    overrides: list[str] = Field(default_factory=list)
    """`key.path=value` overrides applied last (same syntax as `--set`)."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """Pinned inputs: input key -> committed version folder URI (manifest references); others resolve to the newest."""
    force: bool = False
    """Write a new version even if the same inputs and config are committed."""


def default_presets() -> list[str]:
    """The embedded default preset (configs/shapes.yaml) when it exists: under $PLOTLINE_HOME (the images set it),
    the working directory, or the source tree."""
    homes = [Path(os.environ["PLOTLINE_HOME"])] if os.environ.get("PLOTLINE_HOME") else []
    for base in (*homes, Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / DEFAULT_PRESET).is_file():
            return [str(base / DEFAULT_PRESET)]
    return []


def resolve_config(
    config: dict[str, Any] | None = None, config_files: list[str] | None = None, overrides: list[str] | None = None
) -> PlotlineConfig:
    """A validated config: `config` (a resolved dict) or the presets, with `overrides` applied on top."""
    overrides = list(overrides or [])
    if not config:
        return load_config(list(config_files or []) or default_presets(), overrides)
    data = _deep_copy(config)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part} is a value, not a section")
            node = child
        node[path[-1]] = value
    try:
        return PlotlineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration passed to the flow: {problems}") from None


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def stage_module_names(config: PlotlineConfig | None = None) -> list[str]:
    """Plugin stage modules: PLOTLINE_STAGE_MODULES (comma-separated) plus `orchestration.stage_modules`."""
    names = [m.strip() for m in os.environ.get(STAGE_MODULES_ENV, "").split(",") if m.strip()]
    if config is not None:
        names += [m for m in config.orchestration.stage_modules if m not in names]
    return names


def load_stage_modules(config: PlotlineConfig | None = None) -> dict:
    """Import the stages package and every plugin stage module; returns the stage registry."""
    import stages  # noqa: F401 - registers the built-in stages
    from stages.base import registry

    for name in stage_module_names(config):
        importlib.import_module(name)
    return registry()


def check_stages(config: PlotlineConfig, names: list[str]) -> None:
    """Fail early, naming them, if any of `names` is not a registered stage."""
    known = load_stage_modules(config)
    missing = [s for s in names if s not in known]
    if missing:
        raise ValueError(
            f"orchestration stages {missing} are not available; registered stages: {', '.join(sorted(known))}"
        )
