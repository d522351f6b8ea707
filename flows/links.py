"""Links a browser opens for committed files: presigned HTTPS URLs on S3, the loopback file server of
`plotline ui` for local stores (flows/file_server.py); never `file://` (browsers refuse those from a web page)."""

from __future__ import annotations

from plotline.store import StorageConfig

PRESIGN_EXPIRY_S = 7 * 24 * 3600
"""Lifetime of a presigned S3 link (the longest S3 allows for SigV4)."""


class Linker:
    """Turns store URIs of one storage root into browser links (None where none can be made)."""

    def __init__(self, storage: StorageConfig):
        self.storage = storage
        self._s3 = None

    def __call__(self, uri: str) -> str | None:
        """A browser link for `uri` (an s3:// URL or a local path), or None."""
        if not uri:
            return None
        if uri.startswith(("http://", "https://")):
            return uri
        if uri.startswith("s3://"):
            return self._presign(uri)
        if "://" in uri and not uri.startswith("file://"):
            return None
        from flows.file_server import served_url, url_for

        path = uri[len("file://") :] if uri.startswith("file://") else uri
        root = self.storage.root if "://" not in self.storage.root else None
        if root is None:
            return None
        base = served_url(root)
        return url_for(path, root, base) if base else None

    def _presign(self, uri: str) -> str | None:
        try:
            if self._s3 is None:
                from plotline.store.fs import StoreFS

                self._s3 = StoreFS(uri.rsplit("/", 1)[0], self.storage).fs
            return self._s3.sign(uri[len("s3://") :], expiration=PRESIGN_EXPIRY_S)
        except Exception:  # noqa: BLE001 - a link is best effort
            return None
