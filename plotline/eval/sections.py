"""Replacing the `synth` / `eval` sections of a root config (used by the eval CLI and tests).

Both sections are part of PlotlineConfig, so `plotline.config.load_config` loads them.
"""

from __future__ import annotations

from plotline.config import PlotlineConfig


def extend(config: PlotlineConfig, **sections) -> PlotlineConfig:
    """`config` with the given sections (objects or dicts) replacing its own, re-validated."""
    data = config.model_dump(mode="json")
    for name, value in sections.items():
        data[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return PlotlineConfig.model_validate(data)
