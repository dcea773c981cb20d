"""Ingestion's Alembic migrations (on start, or ``keel-ingestion migrate``)."""

from __future__ import annotations

from keel_common.sql import Migrations

MIGRATIONS = Migrations(
    "keel_ingestion:migrations",
    version_table="alembic_version_ingestion",
    lock_id=0x6B65656C01,  # "keel" + 1: the registry's replicas do not wait for ours
    command_hint="keel-ingestion migrate",
)
