"""Discovers every artifact kind under data_contracts/kinds."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from data_contracts import kinds as _kinds_pkg
from data_contracts.kind import ArtifactKind

_EXTRA: dict[str, ArtifactKind] = {}


def register_kind(kind: ArtifactKind) -> ArtifactKind:
    """Add a kind defined outside data_contracts.kinds (a plugin or a test); its suite lives in kind.suite_dir."""
    if kind.name in _discovered():
        raise ValueError(f"artifact kind {kind.name!r} already exists in data_contracts.kinds")
    _EXTRA[kind.name] = kind
    return kind


def all_kinds() -> dict[str, ArtifactKind]:
    """Map of kind name -> ArtifactKind: every module in data_contracts.kinds that defines KIND, plus registered ones."""
    return {**_discovered(), **_EXTRA}


@lru_cache(maxsize=1)
def _discovered() -> dict[str, ArtifactKind]:
    found: dict[str, ArtifactKind] = {}
    for info in pkgutil.iter_modules(_kinds_pkg.__path__):
        module = importlib.import_module(f"{_kinds_pkg.__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, ArtifactKind):
            if kind.name in found:
                raise RuntimeError(f"artifact kind {kind.name!r} is defined twice (second in {module.__name__})")
            found[kind.name] = kind
    return found


def get_kind(name: str) -> ArtifactKind:
    """The contract of kind `name`, or a KeyError listing the known kinds."""
    kinds = all_kinds()
    if name not in kinds:
        raise KeyError(f"unknown artifact kind {name!r}; known kinds: {', '.join(sorted(kinds))}")
    return kinds[name]
