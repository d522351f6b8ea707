"""Store errors; every message names the URL or file involved."""


class StoreError(RuntimeError):
    """Base class of store failures."""


class StoreUnavailable(StoreError):
    """The storage endpoint could not be reached after the configured bounded retries."""


class AlreadyCommitted(StoreError):
    """Another writer committed this output version first (create-if-absent lost the race)."""


class MissingInput(StoreError):
    """A stage's input has no committed manifest."""


class CorruptArtifact(StoreError):
    """A committed file is missing or does not match its manifest (sha256, size, schema)."""
