"""The Celery side: one app configuration for the API (which sends) and workers (which run).

A build task is short next to a training job, but a worker can still be lost mid-task: a task is
acknowledged only after it ends (``acks_late``) and put back at once if the pool process dies
(``reject_on_worker_lost``), one message is reserved at a time, and Redis's visibility timeout
is above the task's hard time limit. Tasks are idempotent (``core.runs``), so a redelivered task
never duplicates output.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from keel_common.worker import celery_conf
from keel_ingestion.config import IngestionSettings

log = logging.getLogger(__name__)

RUN_STAGE = "keel_ingestion.run_stage"


def _child_gone(pid: int | None = None, **_: Any) -> None:
    from keel_common.worker import mark_child_dead

    mark_child_dead(pid)


worker_process_shutdown.connect(_child_gone)  # module level: receivers are weak references


def make_celery(settings: IngestionSettings, broker_url: str) -> Celery:
    app = Celery("keel_ingestion", broker=broker_url, set_as_current=False)
    app.conf.update(
        celery_conf(
            queue=settings.queue,
            time_limit_s=settings.build_time_limit_s,
            soft_time_limit_s=max(settings.build_time_limit_s - 30, settings.build_time_limit_s // 2),
            # a lost worker's task is sent again much sooner by the API (stale_after_s): this
            # only has to exceed the time limit
            visibility_timeout_s=settings.build_time_limit_s + 300,
        )
    )
    state: dict[str, Any] = {}

    @app.task(name=RUN_STAGE, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_stage(operation_id: str, stage: str, shard: int) -> int:
        if "builds" not in state:
            from keel_ingestion.worker.runtime import make_builds

            state["builds"] = make_builds(settings)
        builds = state["builds"]
        log.info("build task started", extra={"operation": operation_id, "stage": stage, "shard": shard})
        with heartbeat(lambda: builds.touch(operation_id), settings.heartbeat_s):
            follow = builds.run(operation_id, stage, shard)
        for nxt, i in follow:
            app.send_task(RUN_STAGE, args=[operation_id, nxt, i], queue=settings.queue)
        log.info(
            "build task done",
            extra={"operation": operation_id, "stage": stage, "shard": shard, "next": len(follow)},
        )
        return len(follow)

    return app


@contextlib.contextmanager
def heartbeat(beat: Callable[[], None], every_s: float) -> Iterator[None]:
    """``beat`` every ``every_s`` seconds on a thread while the block runs, so the API can tell a
    long task (a synthesis batch) from a lost one."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                beat()
            except Exception:  # a missed beat only risks a harmless duplicate task
                log.warning("heartbeat failed", exc_info=True)

    t = threading.Thread(target=loop, name="build-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


class CeleryLauncher:
    """The API's ``Launcher``: a build starts as its ``start`` task on the ingestion queue."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue

    def start(self, operation_id: str) -> None:
        self.send(operation_id, "start", 0)

    def send(self, operation_id: str, stage: str, shard: int) -> None:
        self.app.send_task(RUN_STAGE, args=[operation_id, stage, shard], queue=self.queue)
