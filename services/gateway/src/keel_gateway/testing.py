"""Running the app in-process on a background thread (tests, benchmarks): a real uvicorn server
on a real socket, with its own event loop."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from keel_gateway.app import create_app
from keel_gateway.config import GatewaySettings
from keel_gateway.guardrails.semantic import Embedder


class ThreadedGateway:
    def __init__(self, settings: GatewaySettings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, embedder)
        sock = socket.socket()
        sock.bind((settings.host, settings.http_port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", loop="asyncio"
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ThreadedGateway:
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn exposes no event for "listening"; its flag flips once the lifespan has run.
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> ThreadedGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
