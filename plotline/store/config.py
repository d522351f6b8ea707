"""Storage configuration: where runs live and how the object store is reached."""

from __future__ import annotations

from pydantic import Field

from plotline._base import Section


class S3Config(Section):
    """Connection settings for an S3-compatible object store (used when `root` starts with s3://)."""

    endpoint_url: str | None = None
    """Endpoint URL (e.g. http://127.0.0.1:9000 for MinIO). None uses AWS. Env: PLOTLINE_S3_ENDPOINT_URL."""
    region: str | None = None
    """Region name. Env: PLOTLINE_S3_REGION, then AWS_DEFAULT_REGION."""
    access_key_id: str | None = None
    """Access key. Prefer the environment (AWS_ACCESS_KEY_ID) over putting secrets in YAML."""
    secret_access_key: str | None = None
    """Secret key. Prefer the environment (AWS_SECRET_ACCESS_KEY)."""
    max_attempts: int = Field(3, ge=1, le=20)
    """Bounded retries for every S3 call before the store gives up and names the URL."""
    connect_timeout_s: float = Field(5.0, gt=0)
    """Connect timeout per attempt, seconds."""
    read_timeout_s: float = Field(60.0, gt=0)
    """Read timeout per attempt, seconds."""
    min_transfer_mb_s: float = Field(1.0, gt=0)
    """Slowest transfer rate (MB/s) still counted as progress: a call moving B bytes may run B / rate seconds
    longer than its deadline (max_attempts × (connect + read timeout) + backoff) before it fails as stalled."""


class StorageConfig(Section):
    """Where artifacts are written: any fsspec URL (local folder by default)."""

    root: str = "runs"
    """Root URL of all runs: a local folder (relative paths resolve against the working directory) or s3://bucket/prefix."""
    s3: S3Config = Field(default_factory=S3Config)
    """Object-store connection, used only for s3:// roots."""
    cache_dir: str | None = None
    """Local folder caching files downloaded from a remote store (by sha256). None: <system temp>/plotline-cache."""
    lease_s: float = Field(300.0, gt=0)
    """Lease of an uncommitted attempt folder, seconds: a live writer renews `{attempt}.lease` every lease_s/4, and
    `plotline gc --delete` removes only attempts whose lease expired (clocks of writers and gc must agree to within
    a fraction of this)."""
