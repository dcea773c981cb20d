"""Starting a local Ray instance that survives a slow start.

Ray gives its raylet a fixed 30 s to register with the GCS and then raises. On a loaded 2-core
machine (a CI run next to other work) that start can miss the window once and succeed on the
next try, so a timed-out start is shut down and tried again; the raylet's last log lines are
logged each time, so a start that keeps failing says why."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_TIMEOUT = "timed out during startup"


def init_local(attempts: int = 3, **kwargs: Any) -> None:
    """``ray.init(address="local", **kwargs)``, tried up to ``attempts`` times."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address="local", **kwargs)
            return
        except Exception as exc:
            if _TIMEOUT not in str(exc) or attempt == attempts:
                raise
            log.warning(
                "ray did not start in time; trying again",
                extra={"attempt": attempt, "raylet_log": raylet_log_tail()},
            )
            ray.shutdown()


def raylet_log_tail(lines: int = 20) -> str:
    """The last lines of the newest session's raylet logs ('' when there are none)."""
    logs = Path("/tmp/ray/session_latest/logs")
    out = []
    for name in ("raylet.err", "raylet.out", "gcs_server.err"):
        path = logs / name
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {name}\n" + "\n".join(tail))
    return "\n".join(out)
