"""The reaper: jobs whose worker died go back to the queue (or fail after too many runs)."""

from __future__ import annotations

from collections.abc import Callable

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import NotFound
from keel_training import metrics
from keel_training.store import Store

Requeue = Callable[[pb.Job, str, bool], bool]
Fail = Callable[[str, str, str], pb.Job]


def reap_lost(store: Store, max_attempts: int, requeue: Requeue, fail: Fail) -> list[str]:
    """Re-queue running jobs whose worker stopped renewing its lease (killed, OOM, node
    lost); fail them after ``max_attempts`` runs. Returns the job ids acted on."""
    acted = []
    for job_id in store.running_ids():
        if store.lease_alive(job_id):
            continue
        # Silent worker: the entry goes, whatever happens to the job below.
        store.mark_running(job_id, False)
        try:
            job = store.get_job(job_id)
        except NotFound:
            continue
        # Keyed by the run's RUNNING event, unique even after a resume resets the attempt count.
        run = store.status_sequence(job_id)
        if job.status != pb.JOB_STATUS_RUNNING or not store.once(f"reap:{job_id}:{run}"):
            continue
        metrics.WORKERS_LOST.inc()
        if job.attempt >= max_attempts:
            fail(job_id, "worker_lost", f"the worker running this job was lost {job.attempt} times")
        else:
            at = f" at step {job.progress.step}" if job.progress.step else ""
            if not requeue(job, f"worker lost{at}; re-queued to resume from its last checkpoint", True):
                continue
        acted.append(job_id)
    return acted
