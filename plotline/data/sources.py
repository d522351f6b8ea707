"""Registry of instruction sources used by the `instructions` stage: each declares the config sections it reads.

`file` and `artifact` are defined here; `world` is declared here and defined by the shapes world
(`plotline.world.source`, imported on first use so `plotline.data` stays light). A plugin adds its own with
`register_source`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from plotline.data_config import DataConfig
from plotline.store.config import StorageConfig


@dataclass(frozen=True)
class InstructionSource:
    """A named source of instruction rows: `read(*sections)` makes the rows from the named root-config sections."""

    name: str
    sections: tuple[str, ...]
    """Root-config sections passed to `read`, in order (e.g. ("data",))."""
    read: Callable[..., list[dict]]


_SOURCES: dict[str, InstructionSource] = {}

PROVIDED: dict[str, tuple[str, str, tuple[str, ...]]] = {"world": ("plotline.world.source", "world_source", ("world",))}
"""Sources defined in another package: name -> (module, function, sections); the module is imported on first use."""


def register_source(name: str, read: Callable[..., list[dict]], sections: tuple[str, ...]) -> InstructionSource:
    """Make `data.source: <name>` produce instruction rows with `read(*sections of the root config)`."""
    _SOURCES[name] = InstructionSource(name, tuple(sections), read)
    return _SOURCES[name]


def get_source(name: str) -> InstructionSource:
    """The source registered (or provided) as `name`, or a KeyError naming the available ones."""
    if name not in _SOURCES and name in PROVIDED:
        module, attr, sections = PROVIDED[name]
        register_source(name, getattr(importlib.import_module(module), attr), sections)
    if name not in _SOURCES:
        known = sorted(set(_SOURCES) | set(PROVIDED))
        raise KeyError(f"instruction source {name!r} is not available; available: {', '.join(known) or 'none'}")
    return _SOURCES[name]


def _from_file(data: DataConfig) -> list[dict]:
    """Rows imported from the prompt file `data.path` (its `split` column, or `data.split` for every row)."""
    from plotline.data.importer import import_instructions

    if not data.path:
        raise ValueError("data.source is 'file' but data.path is not set (e.g. --set data.path=prompts.csv)")
    return import_instructions(data.path, split=data.split)


def _from_artifact(data: DataConfig, storage: StorageConfig) -> list[dict]:
    """Rows of a committed instructions artifact (e.g. a synthesize output) named by `data.path`, a version-folder
    URI; every row keeps its own split."""
    from plotline.store import RunStore

    if not data.path:
        raise ValueError(
            "data.source is 'artifact' but data.path is not set (a committed version folder URI, "
            "e.g. runs/synth/step=000000/synthesize/v0000)"
        )
    text = data.path.rstrip("/")
    parts = text.split("/")
    idx = next((i for i in range(len(parts) - 1, 0, -1) if parts[i].startswith("step=")), None)
    if idx is None:
        raise ValueError(f"data.path {data.path!r} is not a stage version folder (…/<run>/step=N/<stage>/vNNNN)")
    art = RunStore("/".join(parts[:idx]), storage).artifact_at(text)
    names = [f.name for f in art.manifest.files if f.kind == "instructions"]
    if not names:
        raise ValueError(f"{art.uri} holds no instructions table (files: {', '.join(art.files)})")
    return art.read_table(names[0]).to_pylist()


register_source("file", _from_file, ("data",))
register_source("artifact", _from_artifact, ("data", "storage"))
