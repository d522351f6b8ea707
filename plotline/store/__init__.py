"""Artifact store over fsspec: run layout, manifests, verified reads, attempt-scoped writes, atomic commits."""

from plotline.store.artifact import Artifact
from plotline.store.config import S3Config, StorageConfig
from plotline.store.errors import AlreadyCommitted, CorruptArtifact, MissingInput, StoreError, StoreUnavailable
from plotline.store.manifest import FileEntry, InputRef, Manifest
from plotline.store.run import RunStore
from plotline.store.writer import ArtifactWriter

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
