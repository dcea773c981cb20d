"""SQL plumbing the services with a database share (registry, ingestion): the engine with the
per-dialect settings Keel relies on, UTC timestamps, a naming convention, and Alembic migrations
run programmatically (on start, or ``keel-<svc> migrate``).

Needs the ``sql`` extra (SQLAlchemy, Alembic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, Integer, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys that autoincrement on SQLite (INTEGER PRIMARY KEY) and PostgreSQL (BIGSERIAL).
PK = BigInteger().with_variant(Integer(), "sqlite")

READ_ONLY = "keel_read_only"  # execution option marking a read-only transaction


def metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the per-dialect settings the services rely on.

    SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` so a transaction takes
    the write lock up front instead of failing on a read→write upgrade under concurrency.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A bounded connect so a health check against a hung server fails instead of hanging.
        connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only sessions keep WAL's concurrent readers; writers take the lock up front.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


class SqlCore:
    """Sessions for a service core: write and read-only transactions, retries of lost races."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction (on SQLite it takes the write lock up front: BEGIN IMMEDIATE)."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction; on SQLite a deferred BEGIN so readers never queue behind writers."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={READ_ONLY: True})
            yield session

    def _retrying(self, work: Callable[[], T], attempts: int = 5) -> T:
        """Retry a transaction that lost a race (unique violation, lock contention)."""
        for attempt in range(attempts):
            try:
                return work()
            except (IntegrityError, OperationalError) as exc:
                if attempt == attempts - 1 or not _transient(exc):
                    raise
                log.info("retrying after a concurrent write", extra={"attempt": attempt + 1})
        raise AssertionError("unreachable")


def _transient(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, IntegrityError) or any(
        s in text for s in ("database is locked", "deadlock", "could not serialize", "busy")
    )


class Migrations:
    """One service's Alembic migrations. Each service has its own version table, so services
    may share one PostgreSQL database without reading each other's revision."""

    def __init__(self, script_location: str, *, version_table: str, lock_id: int, command_hint: str) -> None:
        self.script_location = script_location
        self.version_table = version_table
        self.lock_id = lock_id  # a PostgreSQL advisory lock id, the same for every replica
        self.command_hint = command_hint

    def config(self, engine: Engine) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", self.script_location)
        cfg.attributes["engine"] = engine
        cfg.attributes["version_table"] = self.version_table
        return cfg

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """Upgrade the schema. On PostgreSQL, replicas starting together take turns through a
        session advisory lock instead of racing to create the same tables."""
        if engine.dialect.name != "postgresql":
            command.upgrade(self.config(engine), revision)
            return
        with engine.connect() as lock_conn:
            lock_conn.exec_driver_sql(f"SELECT pg_advisory_lock({self.lock_id})")
            try:
                command.upgrade(self.config(engine), revision)
            finally:
                lock_conn.exec_driver_sql(f"SELECT pg_advisory_unlock({self.lock_id})")
                lock_conn.commit()

    def head_revision(self, engine: Engine) -> str | None:
        return ScriptDirectory.from_config(self.config(engine)).get_current_head()

    def current_revision(self, engine: Engine) -> str | None:
        """The schema's revision; a plain query, cheap enough for every health check."""
        with engine.connect() as conn:
            if not inspect(conn).has_table(self.version_table):
                return None
            return conn.execute(text(f"SELECT version_num FROM {self.version_table}")).scalar()

    def check(self, engine: Engine) -> None:
        """A health check: the database answers and its schema is one this code can run on."""
        usable, why = self.schema_is_usable(engine)
        if not usable:
            raise RuntimeError(why)

    def schema_is_usable(self, engine: Engine) -> tuple[bool, str]:
        """Whether this code can run on the database's schema: at our head, or at a newer
        revision (a newer replica migrated first during a rolling upgrade; migrations are
        additive), but not behind it or empty."""
        current = self.current_revision(engine)
        head = self.head_revision(engine)
        if current == head:
            return True, f"schema at {current}"
        if current is None:
            return False, f"schema not created; run `{self.command_hint}`"
        script = ScriptDirectory.from_config(self.config(engine))
        try:
            script.get_revision(current)
        except Exception:  # unknown here: written by newer code
            return True, f"schema at {current}, newer than this code's {head}"
        return False, f"schema at {current}, code expects {head}; run `{self.command_hint}`"


def run_migrations_env(target: MetaData) -> None:
    """The body of a service's ``migrations/env.py``: the engine and the version table come
    from the caller (``Migrations.config``)."""
    from alembic import context

    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=context.config.attributes.get("version_table", "alembic_version"),
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
