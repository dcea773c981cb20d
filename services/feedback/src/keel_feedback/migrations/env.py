"""Alembic environment: the engine comes from the caller (keel_feedback.migrate)."""

from __future__ import annotations

from keel_common.sql import run_migrations_env
from keel_feedback.db import Base

run_migrations_env(Base.metadata)
