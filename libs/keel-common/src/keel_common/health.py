"""Honest health: named dependency checks, re-run in the background, feeding both the
gRPC health service and the HTTP ``/readyz`` endpoint. Never healthy by constant."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from grpc_health.v1 import health, health_pb2

from keel_common.periodic import Periodic

log = logging.getLogger(__name__)

Check = Callable[[], None]  # raises when the dependency is not usable


class HealthMonitor:
    def __init__(
        self,
        checks: dict[str, Check],
        service_names: list[str],
        interval_s: float = 2.0,
        servicer: health.HealthServicer | None = None,
    ) -> None:
        self.checks = dict(checks)
        self.service_names = ["", *service_names]
        self.interval_s = interval_s
        self.servicer = servicer or health.HealthServicer(experimental_non_blocking=True)
        self._failures: dict[str, str] = {name: "not checked yet" for name in self.checks}
        self._lock = threading.Lock()
        self._shutting_down = False
        self._loop = Periodic("keel-health", interval_s, self._tick)
        self._set(health_pb2.HealthCheckResponse.NOT_SERVING)

    def _set(self, status: int) -> None:
        for name in self.service_names:
            self.servicer.set(name, status)

    def check_now(self) -> bool:
        failures: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                check()
            except Exception as exc:  # any failure means "not ready", with the reason kept
                failures[name] = f"{type(exc).__name__}: {exc}"
        with self._lock:
            changed = failures.keys() != self._failures.keys()
            self._failures = failures
            if self._shutting_down:
                return False
            ready = not failures
            self._set(
                health_pb2.HealthCheckResponse.SERVING
                if ready
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
        if changed:
            if ready:
                log.info("all dependencies ready; serving")
            else:
                log.warning("not ready", extra={"failures": failures})
        return ready

    def ready(self) -> bool:
        with self._lock:
            return not self._failures and not self._shutting_down

    def reasons(self) -> dict[str, str]:
        with self._lock:
            if self._shutting_down:
                return {"server": "shutting down"}
            return dict(self._failures)

    def start(self) -> None:
        self.check_now()
        self._loop.start()

    def _tick(self) -> None:
        self.check_now()  # not ready is a result, not a reason to stop checking

    def shutdown(self) -> None:
        """Flip to NOT_SERVING for good: load balancers drain us before the server stops."""
        with self._lock:
            self._shutting_down = True
        self.servicer.enter_graceful_shutdown()
        self._loop.stop(timeout=30)  # no check may run against dependencies being closed
