"""Stage reruns that respect the run: the config of `plotline stage NAME --run R` defaults to the run's recorded
config (run.json); `--set` applies on top of it, `--config` replaces it; every changed key is printed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from plotline.config import ConfigError, PlotlineConfig, load_config, parse_override


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}` (lists are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_diff(old: dict, new: dict) -> list[str]:
    """`key: old -> new` for every leaf that differs between two config dicts (sorted by key)."""
    a, b = flatten(old), flatten(new)
    show = lambda v: "(absent)" if v is _ABSENT else json.dumps(v, default=str)  # noqa: E731
    return [
        f"{k}: {show(a.get(k, _ABSENT))} -> {show(b.get(k, _ABSENT))}"
        for k in sorted(set(a) | set(b))
        if a.get(k, _ABSENT) != b.get(k, _ABSENT)
    ]


_ABSENT = object()


def _set(data: dict, text: str) -> None:
    path, value = parse_override(text)
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = value


def rerun_config(
    recorded: dict | None, paths: Iterable[str] | None, overrides: Iterable[str] | None, default_paths: Iterable[str]
) -> tuple[PlotlineConfig, list[str], str]:
    """(config, changed keys vs the recorded config, where the config came from) for a stage rerun.

    With a recorded config: `--config` presets replace it (plus `--set`), otherwise `--set` applies on top of it.
    Without one (a new run): the presets (default: `default_paths`) plus `--set`, and no diff."""
    overrides = list(overrides or [])
    if recorded is None:
        return load_config(list(paths or default_paths), overrides), [], "presets"
    if paths:
        cfg = load_config(list(paths), overrides)
        source = f"{', '.join(paths)} (replacing the run's recorded config)"
    else:
        data = json.loads(json.dumps(recorded))
        for text in overrides:
            _set(data, text)
        try:
            cfg = PlotlineConfig.model_validate(data)
        except Exception as exc:  # noqa: BLE001 - name the source, as load_config does
            raise ConfigError(
                f"invalid configuration from run.json + {', '.join(overrides) or 'no --set'}: {exc}"
            ) from None
        source = "the run's recorded config (run.json)" + (f" + {len(overrides)} --set" if overrides else "")
    return cfg, config_diff(recorded, cfg.model_dump(mode="json")), source
