"""The `synth` and `eval` config sections on top of PlotlineConfig, whether or not the root config mounts them.

Once `PlotlineConfig` declares `synth: SynthConfig` and `eval: EvalConfig`, `extended_config_class()` is
PlotlineConfig itself; before that it is a subclass adding them, so `--set eval.…` / `--set synth.…` and YAML
sections already work for the commands that need them.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable

from pydantic import Field, ValidationError, create_model

from plotline.config import ConfigError, PlotlineConfig, _apply_override, _deep_merge, _format_errors, load_yaml, parse_override
from plotline.data.synth_config import SynthConfig
from plotline.eval.config import EvalConfig

EXTRA_SECTIONS = {"synth": SynthConfig, "eval": EvalConfig}
"""Sections this package adds to the root config (name → class)."""


@lru_cache(maxsize=1)
def extended_config_class() -> type[PlotlineConfig]:
    """PlotlineConfig with the `synth` and `eval` sections (a subclass only for the ones it lacks)."""
    missing = {name: (cls, Field(default_factory=cls, description=cls.__doc__))
               for name, cls in EXTRA_SECTIONS.items() if name not in PlotlineConfig.model_fields}
    if not missing:
        return PlotlineConfig
    return create_model("PlotlineConfigWithEval", __base__=PlotlineConfig, **missing)


def extend(config: PlotlineConfig, **sections) -> PlotlineConfig:
    """`config` as the extended class, with the given sections (objects or dicts) replacing its own."""
    data = config.model_dump(mode="json")
    for name, value in sections.items():
        data[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return extended_config_class().model_validate(data)


def load_extended_config(paths: Iterable[str | Path] = (), overrides: Iterable[str] = ()) -> PlotlineConfig:
    """Like plotline.config.load_config (presets merged in order, `key.path=value` overrides), validated with
    the extended class so `synth` and `eval` keys are accepted."""
    data: dict = {}
    sources = []
    for p in paths:
        data = _deep_merge(data, load_yaml(p))
        sources.append(str(p))
    overrides = list(overrides)
    for text in overrides:
        path, value = parse_override(text)
        _apply_override(data, path, value, text)
    source = ", ".join(sources + [f"--set {o}" for o in overrides]) or "defaults"
    try:
        return extended_config_class().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
