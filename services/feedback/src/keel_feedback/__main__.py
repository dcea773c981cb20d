"""``keel-feedback serve`` runs the API and a stream consumer; ``keel-feedback consume`` runs only
a consumer (more replicas on the stream); ``keel-feedback migrate`` upgrades the schema only."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from keel_common.logging import configure_logging
from keel_feedback.config import FeedbackSettings


def consume(settings: FeedbackSettings) -> int:
    from keel_common.redis import connect
    from keel_common.sql import create_db_engine
    from keel_feedback import migrate
    from keel_feedback.core.store import Store
    from keel_feedback.grpc_api import consumer_of

    engine = create_db_engine(settings.resolved_database_url())
    if settings.migrate_on_start:
        migrate.MIGRATIONS.upgrade(engine)
    client, embedded = connect(settings.redis_url, Path(settings.data_dir))
    stop = threading.Event()

    def _signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        consumer_of(settings, Store(engine), client).run(stop)
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keel-feedback", description="Keel feedback: interactions and ratings"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gRPC API and a consumer of the interaction stream")
    sub.add_parser("consume", help="run only a consumer of the interaction stream")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    args = parser.parse_args(argv)
    settings = FeedbackSettings()
    configure_logging("feedback", settings.log_level, settings.log_json)
    if args.command == "migrate":
        from keel_common.sql import create_db_engine
        from keel_feedback.migrate import MIGRATIONS

        engine = create_db_engine(settings.resolved_database_url())
        MIGRATIONS.upgrade(engine)
        print(f"schema at {MIGRATIONS.current_revision(engine)}")
        return 0
    if args.command == "consume":
        return consume(settings)
    from keel_feedback.grpc_api import build

    build(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
