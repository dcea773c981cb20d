"""Alembic migrations build exactly the schema the ORM declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from keel_common.sql import create_db_engine
from keel_registry import migrate
from keel_registry.db import Base


def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations disagree: {diff}"
        migrate.upgrade(engine)  # idempotent
        from alembic import command

        command.downgrade(migrate.alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_replicas_migrating_together_take_turns(postgres_url: str) -> None:
    """Two registry replicas starting at once on one PostgreSQL database both come up."""
    import threading

    engines = [create_db_engine(postgres_url) for _ in range(3)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine) -> None:
        try:
            barrier.wait()
            migrate.upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert migrate.current_revision(engines[0]) == migrate.head_revision(engines[0])
    finally:
        for e in engines:
            e.dispose()


def test_schema_usable_when_current_or_newer_not_when_behind(tmp_path) -> None:
    from sqlalchemy import text

    engine = create_db_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        assert migrate.schema_is_usable(engine)[0] is False  # nothing created yet
        migrate.upgrade(engine)
        assert migrate.schema_is_usable(engine) == (True, f"schema at {migrate.head_revision(engine)}")
        with engine.begin() as conn:  # a newer replica migrated further during a rolling upgrade
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
        usable, why = migrate.schema_is_usable(engine)
        assert usable and "newer" in why
    finally:
        engine.dispose()
