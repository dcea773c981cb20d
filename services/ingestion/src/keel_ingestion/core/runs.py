"""The worker side of a build: one call per (stage, shard) task, transport-free so Celery tasks
and tests drive it alike. A task is idempotent: its output lands at a key fixed by its inputs
and its completion is a row keyed by (operation, stage, shard), so a task retried after a lost
worker neither duplicates output nor counts twice. The task that finds its stage complete
returns the next stage's tasks; a duplicate of those (after a retry) finds its work done and
only repeats the cheap completion check.

Stages: ``start`` → ``prepare`` (a task per shard of documents) → ``dedup`` → ``synthesize`` (a task
per shard of kept chunks; QA formats only) → ``finalize``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from keel_common.artifacts import ArtifactStore
from keel_common.sql import SqlCore, utcnow
from keel_ingestion import metrics
from keel_ingestion.core import build as b
from keel_ingestion.core import views as v
from keel_ingestion.core.recipe import Recipe
from keel_ingestion.core.synth import Generator
from keel_ingestion.core.tokens import TokenCounter
from keel_ingestion.db import DatasetVersion, Document, Operation, OperationEvent, ShardDone

log = logging.getLogger(__name__)

Task = tuple[str, int]  # (stage, shard)
# Share of the progress bar per stage (synthesis, when there is none, goes to prepare).
WEIGHTS = {"prepare": 0.4, "dedup": 0.1, "synthesize": 0.4, "finalize": 0.1}


class Cancelled(Exception):
    pass


class Builds(SqlCore):
    def __init__(
        self, engine: Engine, store: ArtifactStore, *, counter: Callable[[str], TokenCounter],
        generator: Callable[[str], Generator], shard_documents: int, shard_chunks: int = 64,
    ) -> None:  # fmt: skip
        super().__init__(engine)
        self.store = store
        self.counter = counter  # base model id -> its tokenizer
        self.generator = generator  # model ref -> a batched chat generator
        self.shard_documents = shard_documents
        self.shard_chunks = shard_chunks

    def run(self, operation_id: str, stage: str, shard: int) -> list[Task]:
        """Run one task; the tasks to send next."""
        with self._read() as s:
            op = s.get(Operation, operation_id)
            if op is None or op.status in v.FINISHED:
                return []
            cancel = op.cancel_requested
            ver = self._version(s, op)
            recipe = Recipe.from_dict(ver.recipe)
            doc_ids = list(ver.document_ids)
        if cancel:
            self._finish(operation_id, v.CANCELLED, "cancelled by request")
            return []
        if stage == "start":
            return self._advance(operation_id, "start", recipe, len(doc_ids))
        try:
            if not self._done(operation_id, stage, shard):
                began = time.perf_counter()
                output = self._compute(operation_id, stage, shard, recipe, doc_ids)
                metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - began)
                self._record(operation_id, stage, shard, output)
            return self._advance(operation_id, stage, recipe, len(doc_ids))
        except Cancelled:
            self._finish(operation_id, v.CANCELLED, "cancelled by request")
            return []
        except Exception as exc:  # the build fails with the reason; the worker goes on
            log.exception(
                "build stage failed", extra={"operation": operation_id, "stage": stage, "shard": shard}
            )
            self._finish(operation_id, v.FAILED, f"{stage} failed: {type(exc).__name__}: {exc}")
            return []

    # --- stages -----------------------------------------------------------------------------
    def _compute(
        self, op_id: str, stage: str, shard: int, recipe: Recipe, doc_ids: list[str]
    ) -> dict[str, Any]:
        if stage == "prepare":
            ids = b.shards(doc_ids, self.shard_documents)[shard]
            with self._read() as s:
                rows = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(ids)))}
            docs = [b.DocInput(i, rows[i].sha256, rows[i].extracted_uri) for i in ids]
            ref = b.prepare_shard(
                self.store, op_id, shard, docs, recipe, self.counter(recipe.base_model),
                progress=lambda _: self._check_cancel(op_id),
            )  # fmt: skip
            return {"uri": ref.uri}
        if stage == "dedup":
            prepared = [o["uri"] for o in self._outputs(op_id, "prepare")]
            refs, counts = b.dedup(self.store, op_id, prepared, recipe, self.shard_chunks)
            for kind, n in counts.duplicates.items():
                metrics.DEDUP_REMOVED.labels(kind).inc(n)
            return {"uris": [r.uri for r in refs], "counts": _counts(counts)}
        if stage == "synthesize":
            assert recipe.synthesis is not None
            kept = self._outputs(op_id, "dedup")[0]["uris"][shard]
            self._check_cancel(op_id)
            ref, counts = b.synthesize_shard(
                self.store, op_id, shard, kept, recipe, self.generator(recipe.synthesis.model)
            )
            return {"uri": ref.uri, "counts": _counts(counts)}
        if stage == "finalize":
            return self._finalize(op_id, recipe)
        raise ValueError(f"unknown stage {stage!r}")

    def _finalize(self, op_id: str, recipe: Recipe) -> dict[str, Any]:
        counts = b.StageCounts()
        dedup_out = self._outputs(op_id, "dedup")[0]
        counts.merge(dedup_out["counts"])
        if recipe.synthesis is not None:
            synth = self._outputs(op_id, "synthesize")
            for o in synth:
                counts.merge(o["counts"])
            parts = [o["uri"] for o in synth]
        else:
            parts = dedup_out["uris"]
        with self._read() as s:
            op = s.get(Operation, op_id)
            assert op is not None
            key = f"datasets/{op.dataset_id}/{op.dataset_version}"
        files = b.finalize(self.store, key, parts, recipe, counts)
        stats = _counts(counts)
        return {
            "files": {
                split: {
                    "uri": r.uri,
                    "sha256": r.sha256,
                    "size_bytes": r.size_bytes,
                    "examples": counts.examples[split.split(".")[0]],
                }
                for split, r in files.items()
            },
            "counts": stats,
        }

    # --- bookkeeping ------------------------------------------------------------------------
    @staticmethod
    def _version(s: Any, op: Operation) -> DatasetVersion:
        ver = s.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == op.dataset_id, DatasetVersion.version == op.dataset_version
            )
        )
        assert isinstance(ver, DatasetVersion), f"operation {op.id} has no version row"
        return ver

    def _check_cancel(self, op_id: str) -> None:
        with self._read() as s:
            if s.scalar(select(Operation.cancel_requested).where(Operation.id == op_id)):
                raise Cancelled()

    def _done(self, op_id: str, stage: str, shard: int) -> bool:
        with self._read() as s:
            return s.get(ShardDone, (op_id, stage, shard)) is not None

    def _record(self, op_id: str, stage: str, shard: int, output: dict[str, Any]) -> None:
        try:
            with self._tx() as s:
                s.add(ShardDone(operation_id=op_id, stage=stage, shard=shard, output=output))
        except IntegrityError:
            pass  # a duplicate of this task finished first: same output at the same key

    def _outputs(self, op_id: str, stage: str) -> list[dict[str, Any]]:
        with self._read() as s:
            rows = s.scalars(
                select(ShardDone)
                .where(ShardDone.operation_id == op_id, ShardDone.stage == stage)
                .order_by(ShardDone.shard)
            )
            return [dict(r.output) for r in rows]

    def _shards_of(self, op_id: str, stage: str, recipe: Recipe, n_docs: int) -> int:
        if stage == "prepare":
            return math.ceil(n_docs / self.shard_documents)
        if stage == "synthesize":
            return len(self._outputs(op_id, "dedup")[0]["uris"])
        return 1

    def _advance(self, op_id: str, stage: str, recipe: Recipe, n_docs: int) -> list[Task]:
        order = ["start", "prepare", "dedup", *(["synthesize"] if recipe.synthesis else []), "finalize"]
        total = 1 if stage == "start" else self._shards_of(op_id, stage, recipe, n_docs)
        with self._tx() as s:
            op = s.get(Operation, op_id)
            assert op is not None
            done = 1 if stage == "start" else int(
                s.scalar(select(func.count()).select_from(ShardDone).where(
                    ShardDone.operation_id == op_id, ShardDone.stage == stage)) or 0
            )  # fmt: skip
            op.updated_at = utcnow()
            if stage != "start":
                op.done, op.total = done, total
                before = sum(WEIGHTS[st] for st in order[1 : order.index(stage)])
                op.fraction = min(1.0, before + WEIGHTS[stage] * done / total) / self._weight_sum(order)
                s.add(OperationEvent(operation_id=op_id, stage=stage, message=f"{stage} {done}/{total}"))
            if done < total:
                return []
            if stage == "finalize":
                self._complete(s, op)
                return []
            nxt = order[order.index(stage) + 1]
            if op.stage == nxt:
                n = op.shards
            else:
                n = self._shards_of(op_id, nxt, recipe, n_docs)
                op.stage, op.shards, op.status = nxt, n, v.RUNNING
                op.done, op.total = 0, n
                s.add(OperationEvent(operation_id=op_id, stage=nxt, message=f"{nxt}: {n} task(s)"))
        return [(nxt, i) for i in range(n)]

    # --- lost workers -------------------------------------------------------------------------
    def touch(self, operation_id: str) -> None:
        """A running task's heartbeat: the operation was worked on just now."""
        with self._tx() as s:
            s.execute(update(Operation).where(Operation.id == operation_id).values(updated_at=utcnow()))

    def lost(self, stale_after_s: float) -> list[tuple[str, str, int]]:
        """Tasks to send again: of every unfinished build that no task has touched for
        ``stale_after_s`` (its worker died with the task; Redis would only redeliver it after
        the visibility timeout), the current stage's shards that have not finished. Sending a
        task twice is harmless: tasks are idempotent."""
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        with self._read() as s:
            stale = list(
                s.scalars(
                    select(Operation).where(
                        Operation.status.in_((v.PENDING, v.RUNNING)), Operation.updated_at < cutoff
                    )
                )
            )
        out: list[tuple[str, str, int]] = []
        for op in stale:
            if op.stage == "queued":
                tasks: list[Task] = [("start", 0)]
            else:
                with self._read() as s:
                    done = set(
                        s.scalars(
                            select(ShardDone.shard).where(
                                ShardDone.operation_id == op.id, ShardDone.stage == op.stage
                            )
                        )
                    )
                tasks = [(op.stage, i) for i in range(op.shards) if i not in done]
                if not tasks:  # the stage finished but its successor was never sent
                    tasks = [(op.stage, 0)]
            with self._tx() as s:
                s.execute(update(Operation).where(Operation.id == op.id).values(updated_at=utcnow()))
                s.add(
                    OperationEvent(
                        operation_id=op.id, stage=op.stage,
                        message=f"no progress for {stale_after_s:.0f} s (a lost worker?): "
                        f"sent {len(tasks)} {tasks[0][0]} task(s) again",
                    )
                )  # fmt: skip
            out += [(op.id, stage, shard) for stage, shard in tasks]
        return out

    @staticmethod
    def _weight_sum(order: list[str]) -> float:
        return sum(WEIGHTS[st] for st in order[1:])

    def _complete(self, s: Any, op: Operation) -> None:
        out = s.get(ShardDone, (op.id, "finalize", 0)).output
        ver = self._version(s, op)
        manifest = dict(ver.manifest)
        manifest.update(files=out["files"], counts=out["counts"], recipe=ver.recipe)
        ver.manifest = manifest
        ver.status, ver.updated_at = v.READY, utcnow()
        op.status, op.fraction, op.finished_at = v.SUCCEEDED, 1.0, utcnow()
        s.add(OperationEvent(operation_id=op.id, stage="finalize", message=f"version {ver.version} ready"))
        metrics.BUILDS.labels(v.SUCCEEDED).inc()
        counts = out["counts"]
        for reason, n in counts.get("dropped", {}).items():
            metrics.EXAMPLES.labels(reason).inc(n)
        metrics.EXAMPLES.labels("kept").inc(sum(counts.get("examples", {}).values()))
        if counts.get("qa_proposed"):
            metrics.SYNTH_KEPT.observe(counts["qa_kept"] / counts["qa_proposed"])

    def _finish(self, op_id: str, status: str, message: str) -> None:
        with self._tx() as s:
            op = s.get(Operation, op_id)
            if op is None or op.status in v.FINISHED:
                return
            op.status, op.error, op.finished_at, op.updated_at = status, message, utcnow(), utcnow()
            s.execute(
                update(DatasetVersion)
                .where(
                    DatasetVersion.dataset_id == op.dataset_id, DatasetVersion.version == op.dataset_version
                )
                .values(status=v.FAILED, status_message=message, updated_at=utcnow())
            )
            s.add(OperationEvent(operation_id=op_id, stage=op.stage, message=message))
        metrics.BUILDS.labels(status).inc()


def _counts(c: b.StageCounts) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(c)
