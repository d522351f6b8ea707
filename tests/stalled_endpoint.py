"""A loopback endpoint that accepts connections and never answers: the stalled object store of the fault tests."""

from __future__ import annotations

import socket


class StalledEndpoint:
    """A loopback TCP endpoint that accepts every connection and never answers (a hung object store).

    Bounded: it closes itself (and every connection it holds) after `max_s` seconds or on close()/exit."""

    def __init__(self, max_s: float = 120.0):
        import threading

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._timer = threading.Timer(max_s, self.close)
        self._timer.daemon = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._timer.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._held.append(conn)  # read nothing, answer nothing

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self._stop.set()
        self._timer.cancel()
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> StalledEndpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
