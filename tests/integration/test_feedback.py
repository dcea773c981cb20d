"""Feedback as deployed: real consumer processes (``keel-feedback consume``) sharing the
interaction stream on Valkey, storing into PostgreSQL. One is frozen while it holds a batch and
killed; the other claims what it held. Every interaction ends up stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from keel_feedback.db import Interaction
from keel_feedback.testing import interaction

pytestmark = pytest.mark.postgres

STREAM, GROUP = "keel:interactions", "feedback"
N = 4000


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_consumer_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    valkey_url: str, postgres_url: str, tmp_path: Path
) -> None:
    from keel_common.sql import create_db_engine
    from keel_feedback.migrate import MIGRATIONS

    engine = create_db_engine(postgres_url)
    MIGRATIONS.upgrade(engine)  # once, before two processes start
    client = redis.Redis.from_url(valkey_url)
    client.delete(STREAM)
    env = {
        **os.environ,
        "KEEL_REDIS_URL": valkey_url,
        "KEEL_DATA_DIR": str(tmp_path),
        "KEEL_FEEDBACK_DATABASE_URL": postgres_url,
        "KEEL_FEEDBACK_BATCH": "100",
        "KEEL_FEEDBACK_BLOCK_MS": "100",
        # a silent consumer's entries are taken over after a second here (30 s by default)
        "KEEL_FEEDBACK_CLAIM_IDLE_S": "1",
        "KEEL_FEEDBACK_CLAIM_INTERVAL_S": "0.3",
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("victim", "survivor"):
            with (tmp_path / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "keel_feedback", "consume"],
                    env=env | {"KEEL_FEEDBACK_CONSUMER_NAME": name},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )

        def joined() -> bool:
            try:
                return {c["name"] for c in client.xinfo_consumers(STREAM, GROUP)} >= {b"victim", b"survivor"}
            except redis.ResponseError:  # the group does not exist yet
                return False

        _wait(joined, 60, "both consumers to join the group")
        pipe = client.pipeline(transaction=False)
        for n in range(N):
            pipe.xadd(STREAM, {"data": interaction(f"chatcmpl-{n:05d}").SerializeToString()})
        pipe.execute()

        # Freeze the victim at a moment it holds delivered, unacknowledged entries, then kill it.
        victim = procs["victim"]
        held = 0
        for _ in range(200):
            victim.send_signal(signal.SIGSTOP)
            held = client.xpending(STREAM, GROUP)["consumers"]
            held = next((int(c["pending"]) for c in held if c["name"] == b"victim"), 0)
            if held:
                break
            victim.send_signal(signal.SIGCONT)
            time.sleep(0.005)
        assert held, "the victim never held a batch"
        victim.kill()
        victim.wait()

        def drained() -> bool:
            return client.xpending(STREAM, GROUP)["pending"] == 0 and _count(engine) == N

        _wait(drained, 120, "the survivor to store everything")
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(Interaction)).scalar()
            distinct = conn.execute(select(func.count(func.distinct(Interaction.request_id)))).scalar()
        assert total == distinct == N
        # The survivor took over what the victim held (it logs each claim).
        survivor_log = (tmp_path / "survivor.log").read_text()
        assert "claimed" in survivor_log, survivor_log[-2000:]
        assert procs["survivor"].poll() is None
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
                p.wait(timeout=30)
        client.close()
        engine.dispose()
    assert procs["survivor"].returncode == 0  # SIGTERM is a clean stop


def _count(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(Interaction)).scalar() or 0)
