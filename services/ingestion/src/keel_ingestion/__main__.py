"""``keel-ingestion serve`` runs the API; ``keel-ingestion worker`` runs a build worker;
``keel-ingestion migrate`` upgrades the schema only."""

from __future__ import annotations

import argparse
import sys

from keel_common.logging import configure_logging
from keel_ingestion.config import IngestionSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keel-ingestion", description="Keel ingestion: documents to datasets"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gRPC API")
    w = sub.add_parser("worker", help="run a Celery worker that builds dataset versions")
    w.add_argument("--concurrency", type=int, default=1, help="build tasks at once (processes)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    args = parser.parse_args(argv)
    settings = IngestionSettings()
    configure_logging("ingestion", settings.log_level, settings.log_json)
    if args.command == "migrate":
        from keel_common.sql import create_db_engine
        from keel_ingestion.migrate import MIGRATIONS

        engine = create_db_engine(settings.resolved_database_url())
        MIGRATIONS.upgrade(engine)
        print(f"schema at {MIGRATIONS.current_revision(engine)}")
        return 0
    if args.command == "worker":
        from keel_common.worker import prepare_metrics_dir, run_celery_worker

        owns_metrics_dir = prepare_metrics_dir()  # before any keel_ingestion metric is defined
        from keel_ingestion.worker.celery_app import make_celery

        return run_celery_worker(
            "ingestion",
            lambda: make_celery(settings, settings.redis_url or ""),
            redis_url=settings.redis_url,
            host=settings.host,
            metrics_port=settings.worker_metrics_port,
            queues=[settings.queue],
            concurrency=args.concurrency,
            log_level=settings.log_level,
            owns_metrics_dir=owns_metrics_dir,
        )
    from keel_ingestion.grpc_api import build

    build(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
