"""Fixtures for the client's tests: a real HTTP server on localhost for a scripted handler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HttpServer = Callable[[type[BaseHTTPRequestHandler]], str]


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """``start(handler)``: serve ``handler`` on an ephemeral localhost port in a thread and
    return its base URL; every server started is shut down at teardown."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        # a short poll: shutdown() waits up to one poll interval for the loop to notice
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
