"""A real dataset build on one and on two Celery workers: the speed-up of the build's wall time.

Set-up, as the service runs it: an embedded Valkey as the broker, SQLite and a local artifact store
in a temporary folder, the generated corpus (``corpus.build_docs``) uploaded through
``Documents.upload`` (extraction at upload, as in the API), and ``keel-ingestion worker`` processes
(``python -m keel_ingestion worker --concurrency 1``) started with the service's environment
variables. A build starts with ``Datasets.create`` through the service's ``CeleryLauncher``, and its
time runs from ``create`` until ``Datasets.operation`` reads SUCCEEDED (polled every 50 ms).

The recipe is the default text recipe (256-token chunks, quality, PII, dedup; no synthesis, so no
model runs). Only ``prepare`` (chunking with the tokenizer, quality scores, PII) runs a task per
shard of documents in parallel; ``dedup`` and ``finalize`` are one task each, so they bound the
speed-up (Amdahl) and are reported apart.

Fairness: both workers start before anything is timed, and each one has run a warm-up build alone
(tokenizer load, imports, first database connections) before any timed build. For a one-worker
build the other worker stops consuming the queue (Celery's remote control ``cancel_consumer``) and
sits idle; it consumes again for a two-worker build. The same documents are built each time (a new
dataset name each time, so nothing is reused); rounds alternate which configuration goes first and
the median counts (the best round of each is reported too). CPU seconds of the worker processes
and of the whole machine (from /proc) show how many cores a build kept busy and how many other
processes took meanwhile: on a shared 2-core VM a test run beside the benchmark takes a core, which
costs two workers far more than one, so each timed build first waits (up to ``quiet_s``) for the
machine to be quiet.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus import build_docs

from keel_common.redis import EmbeddedValkey
from keel_ingestion.core import views as v
from keel_ingestion.core.recipe import Recipe

TENANT = "bench"


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its direct children (a Celery worker and its
    pool process); 0 where /proc cannot tell."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat), 0 without it."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait_s: float, limit_cores: float = 0.3, sample_s: float = 0.5) -> float:
    """Wait (at most ``max_wait_s``) until the machine has been this quiet for two samples in a
    row -- between builds our own workers idle, so what is busy is someone else. Returns the
    seconds waited. On a shared 2-core VM a test run beside the benchmark takes a core, which
    costs two workers far more than one."""
    began = time.monotonic()
    quiet = 0
    while quiet < 2 and time.monotonic() - began < max_wait_s:
        before = _machine_busy()
        time.sleep(sample_s)
        quiet = quiet + 1 if (_machine_busy() - before) / sample_s < limit_cores else 0
    return time.monotonic() - began


class Workers:
    """``keel-ingestion worker`` processes, each in its own session so the pool goes with it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", "keel_ingestion", "worker", "--concurrency", "1"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None:
                tail = (self.log_dir / f"worker-{i}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {i} exited with {proc.returncode}:\n{tail}")

    def cpu(self) -> float:
        return sum(_proc_cpu(p.pid) for p in self.procs)

    def stop(self) -> None:
        """SIGTERM to every worker's process group (a warm shutdown), SIGKILL after 20 s."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):  # already gone
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # already gone
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass
class Build:
    workers: int
    seconds: float  # create -> SUCCEEDED as the client sees it
    prepare_s: float  # from the prepare stage's start to the dedup stage's start (events)
    tail_s: float  # dedup + finalize
    worker_cpu_s: float
    other_cpu_s: float  # busy CPU seconds of everything else on the machine meanwhile
    waited_s: float  # waiting for the machine to be quiet before the build
    counts: dict[str, Any]


class Bench:
    def __init__(self, tmp: Path, url: str, model_cache: Path, shard_documents: int) -> None:
        from keel_common.artifacts import ArtifactStore
        from keel_common.sql import create_db_engine
        from keel_ingestion.config import IngestionSettings
        from keel_ingestion.core.datasets import Datasets
        from keel_ingestion.core.documents import Documents
        from keel_ingestion.migrate import MIGRATIONS
        from keel_ingestion.worker.celery_app import CeleryLauncher, make_celery

        db_url = f"sqlite:///{tmp / 'ingestion.db'}"
        artifacts = str(tmp / "artifacts")
        self.settings = IngestionSettings(
            data_dir=tmp, redis_url=url, database_url=db_url, artifact_root=artifacts,
            model_cache_dir=model_cache, shard_documents=shard_documents,
        )  # fmt: skip
        self.env = {
            **os.environ,
            "KEEL_DATA_DIR": str(tmp),
            "KEEL_REDIS_URL": url,
            "KEEL_ARTIFACT_ROOT": artifacts,
            "KEEL_LOG_JSON": "false",
            "KEEL_LOG_LEVEL": "WARNING",
            "KEEL_INGESTION_DATABASE_URL": db_url,
            "KEEL_INGESTION_MODEL_CACHE_DIR": str(model_cache),
            "KEEL_INGESTION_WORKER_METRICS_PORT": "0",
            "KEEL_INGESTION_SHARD_DOCUMENTS": str(shard_documents),
        }
        self.engine = create_db_engine(db_url)
        MIGRATIONS.upgrade(self.engine)
        store = ArtifactStore(artifacts)
        s = self.settings
        self.documents = Documents(
            self.engine, store, max_bytes=s.max_document_bytes, max_text_chars=s.max_text_chars,
            max_pages=s.max_pages,
        )  # fmt: skip
        self.app = make_celery(s, url)
        self.datasets = Datasets(self.engine, store, CeleryLauncher(self.app, s.queue))
        self.builds = 0

    def names(self) -> set[str]:
        """The workers that answer a remote-control ping."""
        return {name for reply in self.app.control.ping(timeout=1.0) for name in reply}

    def wait_for(self, workers: Workers, n: int, timeout: float = 180.0) -> set[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers.check_alive()
            found = self.names()
            if len(found) >= n:
                return found
            time.sleep(0.5)  # a worker's start has no event to wait on from here
        raise TimeoutError(f"{n} worker(s) did not answer within {timeout:.0f}s")

    def consume(self, worker: str, on: bool) -> None:
        """Make one worker consume the build queue, or stop consuming it."""
        control = self.app.control
        call = control.add_consumer if on else control.cancel_consumer
        replies = call(self.settings.queue, destination=[worker], reply=True, timeout=5.0)
        if not replies:
            raise RuntimeError(f"worker {worker} did not answer {'add' if on else 'cancel'}_consumer")

    def build(
        self, ids: list[str], workers: Workers, n_workers: int, quiet_s: float = 0.0, timeout: float = 1800.0
    ) -> Build:
        self.builds += 1
        waited = wait_quiet(quiet_s) if quiet_s else 0.0
        cpu0, machine0, own0 = workers.cpu(), _machine_busy(), time.process_time()
        began = time.perf_counter()
        op = self.datasets.create(TENANT, f"bench-{self.builds}-{n_workers}w", Recipe(), ids)
        deadline = began + timeout
        while op.status not in v.FINISHED:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"build {op.id} not finished after {timeout:.0f}s (stage {op.stage})")
            workers.check_alive()
            time.sleep(0.05)  # the operation row is the only signal the client has
            op = self.datasets.operation(op.id)
        seconds = time.perf_counter() - began
        cpu = workers.cpu() - cpu0
        other = _machine_busy() - machine0 - cpu - (time.process_time() - own0)
        if op.status != v.SUCCEEDED or op.result is None:
            raise RuntimeError(f"build {op.id} {op.status}: {op.error}")
        events = self.datasets.operation(op.id, events=True).events
        first = {}
        for at, stage, _ in events:
            first.setdefault(stage, at)
        prepare_s = (first["dedup"] - first["prepare"]).total_seconds()
        tail_s = (events[-1][0] - first["dedup"]).total_seconds()
        counts = dict(op.result.manifest["counts"])
        return Build(n_workers, seconds, prepare_s, tail_s, cpu, max(0.0, other), waited, counts)


def run_worker_bench(
    n_docs: int, shard_documents: int, rounds: int, model_cache: Path, quiet_s: float = 60.0,
    verbose: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``quiet_s``: before each timed build, wait up to this long for other processes to go quiet."""
    from keel_common.loader import resolve_source

    resolve_source("", model_cache)  # convert the shipped GGUF here once, not in two workers at once
    with tempfile.TemporaryDirectory(prefix="keel-bench-ingestion-") as tmp_name:
        tmp = Path(tmp_name)
        valkey = EmbeddedValkey(tmp / "valkey", persist=False)
        url = valkey.start()
        workers: Workers | None = None
        try:
            bench = Bench(tmp, url, model_cache, shard_documents)
            corpus = build_docs(n_docs)
            began = time.perf_counter()
            ids = [bench.documents.upload(TENANT, name, data)[0].id for name, data in corpus]
            upload_s = time.perf_counter() - began
            if verbose:
                kb = sum(len(d) for _, d in corpus) / 1e3
                print(
                    f"uploaded {len(ids)} Markdown documents ({kb:,.0f} KB) in {upload_s:.1f}s "
                    f"({len(ids) / upload_s:,.0f} docs/s: extraction, artifact store, SQLite); "
                    f"{-(-len(ids) // shard_documents)} prepare shards of {shard_documents}",
                    flush=True,
                )
            workers = Workers(bench.env, tmp)
            warm_ids = ids[: 2 * shard_documents]
            workers.start()
            (first,) = bench.wait_for(workers, 1)
            bench.build(warm_ids, workers, 1)  # warms the first worker (the only one consuming)
            workers.start()
            second = next(iter(bench.wait_for(workers, 2) - {first}))
            bench.consume(first, on=False)
            bench.build(warm_ids, workers, 1)  # warms the second
            runs: dict[int, list[Build]] = {1: [], 2: []}
            for r in range(rounds):
                for n in (1, 2) if r % 2 == 0 else (2, 1):
                    bench.consume(first, on=True)
                    bench.consume(second, on=n == 2)
                    b = bench.build(ids, workers, n, quiet_s)
                    runs[n].append(b)
                    if verbose:
                        note = f" (waited {b.waited_s:.0f}s for a quiet machine)" if b.waited_s > 2 else ""
                        print(
                            f"  round {r + 1}: {n} worker(s) {b.seconds:6.2f}s (prepare {b.prepare_s:.2f}s, "
                            f"dedup+finalize {b.tail_s:.2f}s), worker cpu {b.worker_cpu_s:.1f}s = "
                            f"{b.worker_cpu_s / b.seconds:.2f} cores busy; other processes "
                            f"{b.other_cpu_s / b.seconds:.2f} cores{note}",
                            flush=True,
                        )
        finally:
            if workers is not None:
                workers.stop()
            valkey.stop()

    def med(n: int, key: str) -> float:
        return statistics.median(getattr(b, key) for b in runs[n])

    t1, t2 = med(1, "seconds"), med(2, "seconds")
    best1, best2 = min(b.seconds for b in runs[1]), min(b.seconds for b in runs[2])
    p1, p2 = med(1, "prepare_s"), med(2, "prepare_s")
    counts = runs[1][0].counts
    out = {
        "build_docs": len(ids),
        "build_chunks": counts.get("chunks", 0),
        "build_duplicates_removed": sum(counts.get("duplicates", {}).values()),
        "build_examples": sum(counts.get("examples", {}).values()),
        "build_shards": -(-len(ids) // shard_documents),
        "upload_docs_per_s": len(ids) / upload_s,
        "build_1_worker_s": t1,
        "build_2_workers_s": t2,
        "two_worker_speedup": t1 / t2,
        "two_worker_speedup_best": best1 / best2,
        "prepare_1_worker_s": p1,
        "prepare_2_workers_s": p2,
        "prepare_speedup": p1 / p2,
        "serial_tail_s": med(1, "tail_s"),
        "build_1_worker_cores_busy": med(1, "worker_cpu_s") / t1,
        "build_2_workers_cores_busy": med(2, "worker_cpu_s") / t2,
        "other_load_cores_1_worker": med(1, "other_cpu_s") / t1,
        "other_load_cores_2_workers": med(2, "other_cpu_s") / t2,
    }
    if verbose:
        tail = out["serial_tail_s"]
        print(
            f"median of {rounds}: 1 worker {t1:.2f}s, 2 workers {t2:.2f}s -> {t1 / t2:.2f}x "
            f"(prepare alone {p1 / p2:.2f}x; dedup+finalize run on one worker either way, {tail:.2f}s, "
            f"so the bound is {t1 / (p1 / 2 + (t1 - p1)):.2f}x); {out['build_chunks']} chunks, "
            f"{out['build_duplicates_removed']} duplicates removed, {out['build_examples']} examples"
        )
        print(f"best of {rounds}: 1 worker {best1:.2f}s, 2 workers {best2:.2f}s -> {best1 / best2:.2f}x")
        other = max(out["other_load_cores_1_worker"], out["other_load_cores_2_workers"])
        if other > 0.25:
            print(
                f"note: other processes on this machine kept up to {other:.2f} cores busy during the "
                f"timed builds, so two workers did not have {len(os.sched_getaffinity(0))} cores to "
                "themselves; the speed-up understates what an idle machine gives"
            )
    return out
