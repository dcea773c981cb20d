"""Training metrics. The API exports jobs by state and queue lengths (read from Redis at
scrape time); workers export step time, tokens/s and job duration on their own port."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keel.training.v1 import training_pb2 as pb
from keel_common import metrics
from keel_common.protoenum import enum_name

S = "training"

JOBS_CREATED = metrics.counter(S, "jobs_created", "Fine-tuning jobs accepted and queued")
WORKERS_LOST = metrics.counter(S, "workers_lost", "Running jobs whose worker stopped renewing its lease")
JOBS_FINISHED = metrics.counter(S, "jobs_finished", "Job runs that ended, by outcome", ("outcome",))
STEP_TIME = metrics.histogram(
    S, "step_duration", "Time of one optimizer step", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
)
JOB_DURATION = metrics.histogram(
    S,
    "job_duration",
    "Wall time of one run of a job",
    ("outcome",),
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
TOKENS = metrics.counter(S, "trained_tokens", "Tokens through the model in training steps")
TOKENS_PER_SECOND = Gauge(
    metrics.metric_name(S, "tokens_per_second", "ratio").removesuffix("_ratio"),
    "Training throughput of the latest step",
    multiprocess_mode="livemostrecent",
)


class StateCollector(Collector):
    """``keel_training_jobs{state}`` and ``keel_training_queue_length{queue}`` from Redis."""

    def __init__(self, store: object, queues: Iterable[str], recent: int = 10_000) -> None:
        self.store = store
        self.queues = list(queues)
        self.recent = recent

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from keel_training.store import Store

        store = self.store
        assert isinstance(store, Store)
        r: Any = store.r
        jobs = GaugeMetricFamily("keel_training_jobs", "Jobs by state (the latest 10k)", labels=["state"])
        queue = GaugeMetricFamily(
            "keel_training_queue_length", "Messages waiting per queue", labels=["queue"]
        )
        try:
            ids = r.zrevrange(store.k("jobs"), 0, self.recent - 1)
            pipe = r.pipeline()
            for i in ids:
                pipe.get(store.k("job", i.decode()))
            counts = {value: 0 for value in pb.JobStatus.values() if value != pb.JOB_STATUS_UNSPECIFIED}
            for raw in pipe.execute():
                if raw:
                    counts[pb.Job.FromString(raw).status] += 1
            for value, n in counts.items():
                jobs.add_metric([enum_name(pb.JobStatus, value).lower()], n)
            for q in self.queues:
                queue.add_metric([q], int(r.llen(q)))
        except Exception:
            return
        yield jobs
        yield queue
