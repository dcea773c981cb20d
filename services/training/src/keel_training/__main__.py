"""``keel-training serve`` runs the job API; ``keel-training worker`` runs a Celery worker."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid

from keel_common.logging import configure_logging
from keel_training.config import QUEUES, TrainingSettings


def _worker(settings: TrainingSettings, queues: list[str], concurrency: int) -> int:
    # Jobs run in Celery's child processes; their metrics reach /metrics through files
    # (prometheus multiprocess mode), which must be set up before any metric exists.
    own_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if own_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="keel-training-metrics-")
    from prometheus_client import CollectorRegistry, multiprocess

    from keel_common.http import SideServer
    from keel_common.redis import redis_from_url
    from keel_training.tasks import make_celery

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
    from keel_training.runner import drain_marker

    drain_marker(os.getpid()).unlink(missing_ok=True)
    if own_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keel-training", description="Keel training: job API and workers")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gRPC job API (and the lost-worker reaper)")
    w = sub.add_parser("worker", help="run a Celery worker that trains jobs")
    w.add_argument(
        "--queues",
        default="",
        help=f"comma-separated, from {', '.join(QUEUES)}; "
        "default: train.gpu when CUDA is visible, else train.cpu",
    )
    w.add_argument("--concurrency", type=int, default=1, help="jobs at once (one per GPU)")
    args = parser.parse_args(argv)
    settings = TrainingSettings()
    configure_logging("training", settings.log_level, settings.log_json)
    if args.command == "worker":
        queues = [q for q in args.queues.split(",") if q]
        if not queues:
            import torch

            queues = ["train.gpu" if torch.cuda.is_available() else "train.cpu"]
        unknown = [q for q in queues if q not in QUEUES]
        if unknown:
            parser.error(f"unknown queue(s) {', '.join(unknown)}; choose from {', '.join(QUEUES)}")
        return _worker(settings, queues, args.concurrency)
    from keel_training.server import build

    build(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
