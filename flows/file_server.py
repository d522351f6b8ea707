"""A read-only HTTP file server for a local store root on loopback, so artifact links open in a browser.

`plotline ui` starts one next to the Prefect server and records its URL in `<root>/.plotline-files.json`; the
artifact publisher (flows/links.py) turns local store paths under that root into `http://127.0.0.1:<port>/...`
links. Only GET and HEAD are answered; a path with a `..` segment, or one that resolves (through symlinks)
outside the root, is refused with 403; folders inside the root are listed.
"""

from __future__ import annotations

import json
import os
import posixpath
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flows.server import is_loopback, server_url

MARKER = ".plotline-files.json"
"""File in the store root naming the running file server (`{"url": ..., "root": ..., "pid": ...}`)."""


class _RootHandler(SimpleHTTPRequestHandler):
    """Serves files under `directory`; refuses traversal and anything that resolves outside it."""

    root: Path

    def log_message(self, format: str, *args) -> None:
        return

    def _inside(self) -> bool:
        path = unquote(urlsplit(self.path).path)
        if any(part == ".." for part in path.replace("\\", "/").split("/")):
            return False
        target = Path(self.translate_path(self.path)).resolve()
        return target == self.root or self.root in target.parents

    def send_head(self):
        if not self._inside():
            self.send_error(HTTPStatus.FORBIDDEN, "path outside the served store root")
            return None
        return super().send_head()


class FileServer:
    """A running loopback file server over `root` (a thread of this process)."""

    def __init__(self, root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0):
        if not is_loopback(host):
            raise ValueError(f"{host} is not a loopback address; the store file server only serves on loopback")
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ValueError(f"store root {self.root} is not a folder")
        handler = type("Handler", (_RootHandler,), {"root": self.root})
        self.httpd = ThreadingHTTPServer((host, port), partial(handler, directory=str(self.root)))
        self.httpd.daemon_threads = True
        self.url = server_url(host, self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="store-file-server", daemon=True)

    def start(self, write_marker: bool = True) -> FileServer:
        """Serve in a background thread; record the URL in the root's marker file (for the link builder)."""
        self._thread.start()
        if write_marker:
            (self.root / MARKER).write_text(json.dumps({"url": self.url, "root": str(self.root), "pid": os.getpid()}))
        return self

    def stop(self) -> None:
        """Stop serving and remove the marker (if it is still ours)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        marker = self.root / MARKER
        try:
            if json.loads(marker.read_text()).get("url") == self.url:
                marker.unlink()
        except (OSError, ValueError):
            pass


def served_url(root: str | os.PathLike) -> str | None:
    """Base URL of the file server recorded for a local store root (None when none is recorded)."""
    try:
        info = json.loads((Path(root).resolve() / MARKER).read_text())
        return str(info["url"])
    except (OSError, ValueError, KeyError):
        return None


def url_for(path: str | os.PathLike, root: str | os.PathLike, base_url: str) -> str | None:
    """The file server URL of a local `path` under `root` (None when the path is outside the root)."""
    from urllib.parse import quote

    root_p, target = Path(root).resolve(), Path(path).resolve()
    if target != root_p and root_p not in target.parents:
        return None
    rel = posixpath.join(*target.relative_to(root_p).parts) if target != root_p else ""
    return f"{base_url}/{quote(rel, safe='/=')}"
