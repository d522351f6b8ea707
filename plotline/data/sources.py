"""Registry of instruction sources used by the `instructions` stage (`file` here; others register themselves)."""
from __future__ import annotations

from typing import Callable

from plotline.config import PlotlineConfig

InstructionSource = Callable[[PlotlineConfig], list[dict]]
_SOURCES: dict[str, InstructionSource] = {}


def register_source(name: str, fn: InstructionSource) -> InstructionSource:
    """Make `data.source: <name>` produce instruction rows with `fn(config)`."""
    _SOURCES[name] = fn
    return fn


_PROVIDERS = {"world": "plotline.world.source"}
"""Modules that register a source when imported; loaded on first use so `plotline.data` stays light."""


def get_source(name: str) -> InstructionSource:
    """The source registered as `name`, or a KeyError naming the available ones."""
    if name not in _SOURCES and name in _PROVIDERS:
        import importlib

        importlib.import_module(_PROVIDERS[name])
    if name not in _SOURCES:
        raise KeyError(f"instruction source {name!r} is not available; available: {', '.join(sorted(_SOURCES)) or 'none'}")
    return _SOURCES[name]


def _from_file(config: PlotlineConfig) -> list[dict]:
    from plotline.data.importer import import_instructions

    if not config.data.path:
        raise ValueError("data.source is 'file' but data.path is not set (e.g. --set data.path=prompts.csv)")
    return import_instructions(config.data.path, split=config.data.split)


register_source("file", _from_file)


def _from_artifact(config: PlotlineConfig) -> list[dict]:
    """Rows of a committed instructions artifact (e.g. a synthesize output) named by `data.path`, a version-folder
    URI; every row keeps its own split."""
    from plotline.store import RunStore

    if not config.data.path:
        raise ValueError("data.source is 'artifact' but data.path is not set (a committed version folder URI, "
                         "e.g. runs/synth/step=000000/synthesize/v0000)")
    text = config.data.path.rstrip("/")
    parts = text.split("/")
    idx = next((i for i in range(len(parts) - 1, 0, -1) if parts[i].startswith("step=")), None)
    if idx is None:
        raise ValueError(f"data.path {config.data.path!r} is not a stage version folder (…/<run>/step=N/<stage>/vNNNN)")
    art = RunStore("/".join(parts[:idx]), config.storage).artifact_at(text)
    names = [f.name for f in art.manifest.files if f.kind == "instructions"]
    if not names:
        raise ValueError(f"{art.uri} holds no instructions table (files: {', '.join(art.files)})")
    return art.read_table(names[0]).to_pylist()


register_source("artifact", _from_artifact)

