"""The Celery side: one app configuration for the API (which sends) and workers (which run).

Long jobs need Celery's long-job settings: a message is acknowledged only after the job
ends (``acks_late``), put back if the worker process dies (``reject_on_worker_lost``), one
message is reserved at a time (prefetch 1), Redis's visibility timeout is above the hard
time limit, and every job gets a fresh child process (GPU memory is returned to the driver).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutting_down

from keel_common.worker import celery_conf
from keel_training.config import TrainingSettings

log = logging.getLogger(__name__)

RUN_JOB = "keel_training.run_job"


def _child_gone(pid: int | None = None, **_: Any) -> None:
    """A job's child exits after each job: drop its live gauges from the metrics files."""
    from keel_common.worker import mark_child_dead

    mark_child_dead(pid)


def _draining(**_: Any) -> None:
    """SIGTERM to the worker (a pod stopping, ``keel up`` ending): running jobs checkpoint and
    go back to the queue at their next step instead of being killed after the grace period."""
    import os

    from keel_training.worker.job_run import drain_marker

    drain_marker(os.getpid()).touch()


# Module level: Celery keeps signal receivers by weak reference.
worker_process_shutdown.connect(_child_gone)
worker_shutting_down.connect(_draining)


def make_celery(settings: TrainingSettings, broker_url: str) -> Celery:
    app = Celery("keel_training", broker=broker_url, set_as_current=False)
    app.conf.update(
        celery_conf(
            queue=settings.default_queue,
            time_limit_s=settings.job_time_limit_s,
            soft_time_limit_s=max(settings.job_time_limit_s - 60, settings.job_time_limit_s // 2),
            visibility_timeout_s=settings.visibility_timeout_s,
        ),
        worker_max_tasks_per_child=1,  # a fresh process per job: GPU memory goes back to the driver
    )
    runner: dict[str, Any] = {}

    @app.task(name=RUN_JOB, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> str:
        if job_id.startswith("eval_"):  # evaluations share the queue and its workers
            return run_evaluation(job_id)
        if "r" not in runner:
            from keel_common.artifacts import ArtifactStore
            from keel_common.redis import redis_from_url
            from keel_training.store import Store
            from keel_training.worker.job_run import Runner

            store = Store(redis_from_url(broker_url), settings.key_prefix, settings.events_maxlen)
            artifacts = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
            runner["r"] = Runner(settings, store, artifacts, sender(app))
        from keel_training.worker.job_run import BUSY

        outcome = str(runner["r"].run(job_id))
        if outcome == BUSY:  # a run that just ended still holds the lease: come back later
            app.send_task(
                RUN_JOB,
                args=[job_id],
                queue=run_job.request.delivery_info.get("routing_key") or settings.default_queue,
                countdown=settings.lease_ttl_s,
            )
        log.info("job run ended", extra={"job_id": job_id, "outcome": outcome})
        return outcome

    def run_evaluation(evaluation_id: str) -> str:
        from keel_common.artifacts import ArtifactStore
        from keel_common.redis import redis_from_url
        from keel_training.store import Store
        from keel_training.worker.eval_run import EvalRunner

        store = Store(redis_from_url(broker_url), settings.key_prefix, settings.events_maxlen)
        artifacts = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
        outcome = EvalRunner(settings, store, artifacts).run(evaluation_id)
        log.info("evaluation ended", extra={"evaluation_id": evaluation_id, "outcome": outcome})
        return outcome

    return app


def sender(app: Celery) -> Any:
    """``enqueue(job_id, queue)`` for the core."""

    def enqueue(job_id: str, queue: str) -> None:
        app.send_task(RUN_JOB, args=[job_id], queue=queue)

    return enqueue
