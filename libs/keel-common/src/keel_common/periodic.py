"""A background thread that calls a function every few seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``tick`` every ``interval_s`` on a daemon thread. ``tick`` returning False ends
    the loop; an exception is logged and the next tick tries again (a dependency blinked)."""

    def __init__(self, name: str, interval_s: float, tick: Callable[[], bool | None]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if self.tick() is False:
                    return
            except Exception:
                log.warning("periodic task failed", exc_info=True, extra={"task": self.name})

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for a tick in progress (up to ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
