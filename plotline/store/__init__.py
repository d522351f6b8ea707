"""Artifact store over fsspec: run layout, manifests, verified reads, attempt-scoped writes, atomic commits.

Names are resolved lazily (PEP 562) so importing a light submodule such as ``plotline.store.config`` does not
pull in torch or pandas through ``artifact``/``writer``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plotline.store.artifact import Artifact
    from plotline.store.config import S3Config, StorageConfig
    from plotline.store.errors import AlreadyCommitted, CorruptArtifact, MissingInput, StoreError, StoreUnavailable
    from plotline.store.manifest import FileEntry, InputRef, Manifest
    from plotline.store.run import RunStore
    from plotline.store.writer import ArtifactWriter

_WHERE = {
    "Artifact": "artifact",
    "S3Config": "config",
    "StorageConfig": "config",
    "AlreadyCommitted": "errors",
    "CorruptArtifact": "errors",
    "MissingInput": "errors",
    "StoreError": "errors",
    "StoreUnavailable": "errors",
    "FileEntry": "manifest",
    "InputRef": "manifest",
    "Manifest": "manifest",
    "RunStore": "run",
    "ArtifactWriter": "writer",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access and return the attribute."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'plotline.store' has no attribute {name!r}")
    value = getattr(import_module(f"plotline.store.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyCommitted",
    "Artifact",
    "ArtifactWriter",
    "CorruptArtifact",
    "FileEntry",
    "InputRef",
    "Manifest",
    "MissingInput",
    "RunStore",
    "S3Config",
    "StorageConfig",
    "StoreError",
    "StoreUnavailable",
]
