"""A small HTTP side server per service: ``/metrics``, ``/livez`` (process) and ``/readyz``
(dependencies; 503 with the reasons when not ready)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest


class SideServer:
    def __init__(
        self,
        host: str,
        port: int,
        readiness: Callable[[], dict[str, str]],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/livez":
                    self._send(200, b'{"status":"ok"}', "application/json")
                elif path == "/readyz":
                    failures = outer.readiness()
                    body = (
                        {"status": "ready"} if not failures else {"status": "not ready", "reasons": failures}
                    )
                    self._send(200 if not failures else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b'{"error":"not found"}', "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # keep access logs off stdout
                return

        self.registry = registry
        self.readiness = readiness
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="keel-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
