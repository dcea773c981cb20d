"""A training worker process: Celery's prefork worker on the chosen queues, with a side HTTP
server for /metrics (aggregated over job processes) and readiness (the broker answers)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid

from keel_training.config import TrainingSettings


def run_worker(settings: TrainingSettings, queues: list[str], concurrency: int) -> int:
    # Jobs run in Celery's child processes; their metrics reach /metrics through files
    # (prometheus multiprocess mode), which must be set up before any metric exists.
    own_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if own_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="keel-training-metrics-")
    from prometheus_client import CollectorRegistry, multiprocess

    from keel_common.http import SideServer
    from keel_common.redis import redis_from_url
    from keel_training.worker.celery_app import make_celery

    if not settings.redis_url:
        print(
            "keel-training worker: KEEL_REDIS_URL is required (the API and workers share one Redis)",
            file=sys.stderr,
        )
        return 2
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    broker = redis_from_url(settings.redis_url)

    def readiness() -> dict[str, str]:
        """Ready when the broker answers: a worker that cannot reach Redis takes no jobs."""
        try:
            broker.ping()
        except Exception as exc:
            return {"redis": f"{type(exc).__name__}: {exc}"}
        return {}

    side = SideServer(settings.host, settings.worker_metrics_port, readiness, registry)
    side.start()
    app = make_celery(settings, settings.redis_url)
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--loglevel",
            settings.log_level,
            "--hostname",
            f"keel-training-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    side.stop()
    from keel_training.worker.job_run import drain_marker

    drain_marker(os.getpid()).unlink(missing_ok=True)
    if own_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return 0
