"""Feedback's Alembic migrations (on start, or ``keel-feedback migrate``)."""

from __future__ import annotations

from keel_common.sql import Migrations

MIGRATIONS = Migrations(
    "keel_feedback:migrations",
    version_table="alembic_version_feedback",
    lock_id=0x6B65656C02,  # "keel" + 2: other services' replicas do not wait for ours
    command_hint="keel-feedback migrate",
)
