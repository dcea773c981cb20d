"""A Celery worker process as every Keel service runs one: the prefork pool on the service's
queues, and a side HTTP server for /metrics (aggregated over the pool's child processes through
prometheus multiprocess files) and readiness (the broker answers).

Needs Celery (the training and ingestion services depend on it; keel-common does not).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery


def prepare_metrics_dir() -> bool:
    """Tasks run in child processes; their metrics reach /metrics through files, which must be
    set up before any metric exists: call this before importing the service's modules. True
    when this process made the folder (``run_celery_worker`` removes it at the end)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return False
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="keel-worker-metrics-")
    return True


def run_celery_worker(
    service: str,
    make_app: Callable[[], Celery],
    *,
    redis_url: str | None,
    host: str,
    metrics_port: int,
    queues: list[str],
    concurrency: int,
    log_level: str,
    owns_metrics_dir: bool,
) -> int:
    """Run the worker until it stops; ``owns_metrics_dir`` is what ``prepare_metrics_dir``
    returned, before the service's modules were imported."""
    own_dir = owns_metrics_dir
    from prometheus_client import CollectorRegistry, multiprocess

    from keel_common.http import SideServer
    from keel_common.redis import redis_from_url

    if not redis_url:
        print(
            f"keel-{service} worker: KEEL_REDIS_URL is required (the API and workers share one Redis)",
            file=sys.stderr,
        )
        return 2
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    broker = redis_from_url(redis_url)

    def readiness() -> dict[str, str]:
        """Ready when the broker answers: a worker that cannot reach Redis takes no work."""
        try:
            broker.ping()
        except Exception as exc:
            return {"redis": f"{type(exc).__name__}: {exc}"}
        return {}

    side = SideServer(host, metrics_port, readiness, registry)
    side.start()
    try:
        make_app().worker_main(
            [
                "worker", "--queues", ",".join(queues), "--concurrency", str(concurrency),
                "--pool", "prefork", "--loglevel", log_level,
                "--hostname", f"keel-{service}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip", "--without-mingle",
            ]
        )  # fmt: skip
    finally:
        side.stop()
        if own_dir:
            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return 0


def celery_conf(
    *, queue: str, time_limit_s: int, soft_time_limit_s: int, visibility_timeout_s: int
) -> dict[str, Any]:
    """The Celery settings every Keel worker shares: a task is acknowledged only after it ends
    (``acks_late``) and put back at once if its pool process dies (``reject_on_worker_lost``);
    one message is reserved at a time; Redis redelivers an unacknowledged message after the
    visibility timeout, which must exceed the hard time limit; JSON only; no results stored;
    the service's own logging."""
    if visibility_timeout_s <= time_limit_s:
        raise ValueError("the visibility timeout must exceed the task time limit")
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": time_limit_s,
        "task_soft_time_limit": soft_time_limit_s,
        "broker_transport_options": {"visibility_timeout": visibility_timeout_s},
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": queue,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
    }


def mark_child_dead(pid: int | None = None) -> None:
    """A pool child exits: drop its live gauges from the metrics files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
