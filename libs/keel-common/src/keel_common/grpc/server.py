"""gRPC server bootstrap: health (SERVING only when dependencies are), reflection, the
service interceptor, the HTTP side server, and graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from keel_common.grpc.interceptors import ServiceInterceptor
from keel_common.health import Check, HealthMonitor
from keel_common.http import SideServer
from keel_common.settings import ServiceSettings

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class GrpcService:
    """Owns one gRPC server and its side server for the lifetime of a service process.

    ``register`` adds the servicers; ``service_names`` are the full proto service names
    (reflection and per-service health); ``checks`` decide readiness.
    """

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        register: Callable[[grpc.Server], None],
        service_names: list[str],
        checks: dict[str, Check],
        on_stop: Callable[[], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.on_stop = on_stop
        self.on_start = on_start
        self._stopped = threading.Event()
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix=f"{name}-rpc"),
            interceptors=[ServiceInterceptor(name)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        register(self.server)
        self.health = HealthMonitor(checks, service_names, interval_s=settings.health_interval_s)
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, self.server)
        reflection.enable_server_reflection(
            [
                *service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        self.grpc_port = self.server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
        if self.grpc_port == 0:
            raise OSError(f"cannot bind gRPC port {settings.host}:{settings.grpc_port}")
        self.side = SideServer(settings.host, settings.http_port, self.health.reasons)
        self.http_port = self.side.port

    def start(self) -> None:
        self.server.start()
        self.side.start()
        self.health.start()
        if self.on_start:
            self.on_start()
        log.info(
            "started",
            extra={"grpc_port": self.grpc_port, "http_port": self.http_port, "host": self.settings.host},
        )

    def stop(self, grace: float | None = None) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.shutdown_grace_s if grace is None else grace
        log.info("shutting down", extra={"grace_s": grace})
        self.health.shutdown()
        self.server.stop(grace).wait()
        self.side.stop()
        if self.on_stop:
            self.on_stop()
        log.info("stopped")

    def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT, then drain in-flight RPCs and stop — all of it in
        the main thread, so the process exits only after ``on_stop`` has released everything."""
        requested = threading.Event()

        def _signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received", extra={"signal": signal.Signals(signum).name})
            requested.set()

        signal.signal(signal.SIGTERM, _signal)
        signal.signal(signal.SIGINT, _signal)
        self.start()
        requested.wait()
        self.stop()
