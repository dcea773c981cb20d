"""``keel-registry serve`` runs the service; ``keel-registry migrate`` upgrades the schema only."""

from __future__ import annotations

import argparse
import sys

from keel_common.logging import configure_logging
from keel_common.sql import create_db_engine
from keel_registry import migrate
from keel_registry.config import RegistrySettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keel-registry", description="Keel model registry")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = RegistrySettings()
    configure_logging("registry", settings.log_level, settings.log_json)
    if args.command == "migrate":
        engine = create_db_engine(settings.resolved_database_url())
        migrate.upgrade(engine)
        print(f"schema at {migrate.current_revision(engine)}")
        return 0
    from keel_registry.grpc_api import build

    build(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
