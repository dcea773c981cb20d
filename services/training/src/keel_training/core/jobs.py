"""The job API's logic, free of transports: job creation with validation (SFT on chat examples,
DPO on preference pairs, from a base model or a fine-tuned one), listing, cancel, resume, events,
checkpoints. Jobs leave here as Celery messages through ``enqueue``; workers
(``worker.job_run``) take it from there. Everything a trainer can get wrong is checked before
anything is queued."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from keel_common.ids import new_id
from keel_common.paging import decode_token, encode_token, page_size
from keel_training import metrics
from keel_training.config import TrainingSettings
from keel_training.core.datasets import DatasetResolver, NoDatasets
from keel_training.core.evaluations import Evaluations, check_gate
from keel_training.core.files import Files
from keel_training.core.hyperparameters import check_hyperparameters, check_method, choose_auto, data_kind
from keel_training.core.models import ModelResolver, NoModels, starting_adapter
from keel_training.core.names import SUFFIX, fine_tuned_name, output_model_name
from keel_training.core.paging import filtered_page
from keel_training.core.reaper import reap_lost
from keel_training.core.tokenizers import Tokenizers
from keel_training.store import TERMINAL, Store, now_ts, status_name
from keel_training.trainer import planned_steps
from keel_training.validation import PreferencePair

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]


def _fingerprint(req: pb.CreateJobRequest) -> str:
    """What a request asks for, so a reused idempotency key with other parameters is caught."""
    same = pb.CreateJobRequest()
    same.CopyFrom(req)
    same.ClearField("creator")
    same.ClearField("idempotency_key")
    return hashlib.sha256(same.SerializeToString(deterministic=True)).hexdigest()[:24]


def _gate_fields(gate: pb.EvaluationGate) -> dict[str, Any]:
    """What a job's auto_promote may set (the job supplies the model and version)."""
    return {
        "alias": gate.alias,
        "metric": gate.metric,
        "margin": gate.margin,
        "min_examples": gate.min_examples,
    }


class TrainingCore:
    def __init__(
        self, settings: TrainingSettings, store: Store, artifacts: ArtifactStore, enqueue: Enqueue,
        datasets: DatasetResolver | None = None, models: ModelResolver | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.models = models or NoModels()
        self.store = store
        self.artifacts = artifacts
        self.enqueue = enqueue
        self.tokenizers = Tokenizers(settings, artifacts)
        self.files = Files(settings, store, artifacts, datasets or NoDatasets())
        self.evaluations = Evaluations(settings, store, self.files, self.models, enqueue)

    # --- files (see Files) ------------------------------------------------------------------
    def upload_file(self, tenant: str, filename: str, purpose: str, content: bytes) -> pb.File:
        return self.files.upload_file(tenant, filename, purpose, content)

    def get_file(self, file_id: str, tenant: str = "") -> pb.File:
        return self.files.get_file(file_id, tenant)

    def list_files(self, tenant: str, purpose: str, size: int, token: str) -> tuple[list[pb.File], str]:
        return self.files.list_files(tenant, purpose, size, token)

    def delete_file(self, file_id: str, tenant: str = "") -> pb.File:
        return self.files.delete_file(file_id, tenant)

    # --- jobs ---------------------------------------------------------------------------
    def _too_long(self, base: str, examples: list[Any], max_len: int) -> int:
        tok, _ = self.tokenizers.get(base)
        if examples and isinstance(examples[0], PreferencePair):
            return self._pairs_too_long(tok, base, examples, max_len)
        longer = 0
        for number, messages in enumerate(examples, start=1):
            plain = [{"role": m["role"], "content": m["content"]} for m in messages]
            try:
                ids = tok.apply_chat_template(plain, tokenize=True, return_dict=False)
            except Exception as exc:  # jinja's TemplateError: e.g. roles out of the order it needs
                raise InvalidArgument(
                    f"example {number} does not fit {base}'s chat template: {exc}", field="training_file"
                ) from exc
            longer += len(ids) > max_len
        return longer

    @staticmethod
    def _pairs_too_long(tok: Any, base: str, pairs: list[PreferencePair], max_len: int) -> int:
        """Pairs that will be truncated; a pair whose answers are the same once truncated
        (nothing to prefer) is refused with its line."""
        from keel_training.trainer_dpo import encode_pair

        longer = 0
        for p in pairs:
            try:
                enc = encode_pair(tok, p, max_len)
            except InvalidArgument:
                raise
            except Exception as exc:  # jinja's TemplateError: e.g. roles out of the order it needs
                raise InvalidArgument(
                    f"line {p.line}: does not fit {base}'s chat template: {exc}", field="training_file"
                ) from exc
            chosen, rejected = enc.answers()
            if chosen == rejected:
                raise InvalidArgument(
                    f"line {p.line}: preferred_output and non_preferred_output are the same within "
                    f"max_seq_len={max_len} tokens; shorten the prompt or raise max_seq_len",
                    field="training_file",
                )
            longer += enc.truncated
        return longer

    def create_job(self, req: pb.CreateJobRequest) -> pb.Job:
        if not req.tenant:
            raise InvalidArgument("is required", field="tenant")
        method, dpo = check_method(req.method, req.dpo)
        base, start = req.base_model, None
        if base not in self.settings.base_models:
            base, start = starting_adapter(self.models, base, req.tenant, self.settings.base_models)
        if not SUFFIX.match(req.suffix):
            raise InvalidArgument("at most 40 letters, digits, '-' or '_'", field="suffix")
        if len(fine_tuned_name(base, req.tenant, req.suffix, "ftjob_" + "0" * 26)) > 128:
            raise InvalidArgument(
                "makes the fine-tuned model name longer than 128 characters; shorten it", field="suffix"
            )
        if len(req.metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in req.metadata.items()):
            raise InvalidArgument("at most 16 pairs, keys ≤ 64 and values ≤ 512 characters", field="metadata")
        if req.HasField("auto_promote"):  # checked now, not after hours of training
            try:
                check_gate(pb.EvaluationGate(model="job", version=1, **_gate_fields(req.auto_promote)))
            except InvalidArgument as exc:
                raise InvalidArgument(
                    exc.message, field=(exc.field or "").replace("gate.", "auto_promote.")
                ) from exc
        fingerprint = _fingerprint(req)
        if req.idempotency_key:
            existing = self.store.find_idempotent(req.tenant, req.idempotency_key)
            if existing:
                return self._same_or_conflict(existing, fingerprint, req.idempotency_key)
        _, ctx = self.tokenizers.get(base)
        hp = check_hyperparameters(req.hyperparameters, ctx)
        kind = data_kind(method)
        train_uri = self.files.data_uri(req.training_data, req.tenant, "training_file", kind)
        train_examples = self.files.load_examples(train_uri, "training_file", kind)
        auto = choose_auto(hp, len(train_examples), self.tokenizers.parameters(base), method)
        hp = auto.hyperparameters
        val_examples: list[Any] = []
        val_uri = ""
        if req.HasField("validation_data"):
            val_uri = self.files.data_uri(req.validation_data, req.tenant, "validation_file", kind)
        elif req.training_data.HasField("dataset"):
            # a dataset version brings its own validation split (grouped by document)
            val_uri = self.files.dataset(req.training_data, req.tenant, "training_file", kind).validation_uri
        if val_uri:
            val_examples = self.files.load_examples(val_uri, "validation_file", kind)
        longer = self._too_long(base, train_examples, hp.max_seq_len)
        longer += self._too_long(base, val_examples, hp.max_seq_len)
        job_id = new_id("ftjob")
        if req.idempotency_key:
            claim = f"{job_id} {fingerprint}"
            owner = self.store.claim_idempotency(req.tenant, req.idempotency_key, claim)
            if owner != claim:
                return self._same_or_conflict(owner, fingerprint, req.idempotency_key)
        job = pb.Job(
            id=job_id,
            tenant=req.tenant,
            creator=req.creator or "anonymous",
            base_model=base,
            training_data=req.training_data,
            hyperparameters=hp,
            output_model=req.output_model or output_model_name(req.tenant, base),
            status=pb.JOB_STATUS_VALIDATING_FILES,
            attempt=0,
            idempotency_key=req.idempotency_key,
            created_at=now_ts(),
            suffix=req.suffix,
            metadata=dict(req.metadata),
            training_file_uri=train_uri,
            validation_file_uri=val_uri,
            method=method,
        )
        if method == pb.TRAINING_METHOD_DPO:
            job.dpo.CopyFrom(dpo)
        if start is not None:
            job.starting_adapter.CopyFrom(start)
        if req.HasField("auto_promote"):
            job.auto_promote.CopyFrom(req.auto_promote)
        if req.HasField("validation_data"):
            job.validation_data.CopyFrom(req.validation_data)
        job.updated_at.CopyFrom(job.created_at)
        self.store.put_new_job(job)
        self.status_event(
            job.id, pb.JOB_STATUS_UNSPECIFIED, pb.JOB_STATUS_VALIDATING_FILES, "validating files"
        )
        steps = planned_steps(
            len(train_examples), hp.batch_size, hp.gradient_accumulation_steps, hp.epochs, hp.max_steps
        )
        unit = "preference pair" if method == pb.TRAINING_METHOD_DPO else "example"
        self.log(
            job.id,
            pb.LOG_SEVERITY_INFO,
            f"training file: {len(train_examples)} {unit}s"
            + (f", validation file: {len(val_examples)}" if val_examples else "")
            + f"; about {steps} steps"
            + (f"; starting from {start.model} ({start.ref})" if start else ""),
        )
        if auto.reasons:
            self.log(job.id, pb.LOG_SEVERITY_INFO, f"hyperparameters chosen: {auto.describe()}")
        if longer:
            self.log(
                job.id,
                pb.LOG_SEVERITY_WARNING,
                f"{longer} {unit}(s) exceed max_seq_len={hp.max_seq_len} tokens and will be truncated",
            )

        def queued(j: pb.Job) -> bool:
            if j.status != pb.JOB_STATUS_VALIDATING_FILES:  # cancelled while validating
                return False
            j.status = pb.JOB_STATUS_QUEUED
            j.truncated_examples = longer
            j.progress.total_steps = steps
            return True

        job = self.store.update_job(job.id, queued)
        if job.status != pb.JOB_STATUS_QUEUED:
            return job
        self.status_event(job.id, pb.JOB_STATUS_VALIDATING_FILES, pb.JOB_STATUS_QUEUED, "queued")
        try:
            self.enqueue(job.id, self.settings.default_queue)
        except Exception as exc:
            # No message, no run: the job must not sit QUEUED forever.
            self.fail(job.id, "queue_unavailable", f"the job could not be queued: {exc}")
            raise Unavailable(f"the job could not be queued: {exc}") from exc
        metrics.JOBS_CREATED.inc()
        log.info(
            "job queued", extra={"job_id": job.id, "tenant": job.tenant, "queue": self.settings.default_queue}
        )
        return self.store.get_job(job.id)

    def _same_or_conflict(self, claim: str, fingerprint: str, key: str) -> pb.Job:
        """The job an earlier request with this key created, if it asked for the same thing."""
        job_id, _, theirs = claim.partition(" ")
        if theirs != fingerprint:
            raise AlreadyExists(
                f"idempotency key {key!r} was used for job {job_id} with other parameters",
                field="idempotency_key",
            )
        try:
            return self.store.get_job(job_id)
        except NotFound:
            raise Aborted(
                f"a request with idempotency key {key!r} is still creating job {job_id}; retry",
                field="idempotency_key",
            ) from None

    def get_job(self, job_id: str, tenant: str = "") -> pb.Job:
        job = self.store.get_job(job_id)
        if tenant and job.tenant != tenant:
            raise NotFound(f"no fine-tuning job {job_id!r}", field="job_id")
        return job

    def list_jobs(self, tenant: str, status: int, size: int, token: str) -> tuple[list[pb.Job], str]:
        return filtered_page(
            lambda after, n: self.store.list_jobs(tenant, after, n),
            lambda j: not status or j.status == status,
            page_size(size),
            str(decode_token(token).get("after", "")),
        )

    def cancel_job(self, job_id: str, tenant: str = "", actor: str = "") -> pb.Job:
        job = self.get_job(job_id, tenant)
        if job.status in TERMINAL:
            raise FailedPrecondition(f"job {job_id} is already {status_name(job.status)}", field="job_id")
        self.store.request_cancel(job_id)

        def cancel(j: pb.Job) -> bool:
            if j.status in TERMINAL:
                return False
            j.cancel_requested = True
            if j.status != pb.JOB_STATUS_RUNNING:
                # Not started: it never will (the worker checks the status first).
                j.status = pb.JOB_STATUS_CANCELLED
                j.finished_at.CopyFrom(now_ts())
                j.status_message = f"cancelled by {actor or 'anonymous'} before it started"
            return True

        before, job = self.store.transition(job_id, cancel)
        if job.status == pb.JOB_STATUS_CANCELLED and before != pb.JOB_STATUS_CANCELLED:
            self.status_event(job_id, before, pb.JOB_STATUS_CANCELLED, job.status_message)
        else:
            self.log(job_id, pb.LOG_SEVERITY_INFO, f"cancel requested by {actor or 'anonymous'}")
        return self.store.get_job(job_id)

    def resume_job(self, job_id: str, tenant: str = "") -> pb.Job:
        job = self.get_job(job_id, tenant)
        if job.status not in (pb.JOB_STATUS_FAILED, pb.JOB_STATUS_CANCELLED):
            raise FailedPrecondition(
                f"only failed or cancelled jobs resume; this one is {status_name(job.status)}", field="job_id"
            )
        self.store.clear_cancel(job_id)

        def fresh_budget(j: pb.Job) -> bool:
            if j.status != job.status:
                return False
            j.attempt = 0  # a resumed job gets max_attempts runs again
            return True

        fresh = self.store.update_job(job_id, fresh_budget)
        if fresh.status != job.status or not self.requeue(fresh, "resumed by request"):
            raise Aborted(f"job {job_id} changed while resuming; retry", field="job_id")
        return self.store.get_job(job_id)

    def requeue(self, job: pb.Job, why: str, lost_run: bool = False, refund: bool = False) -> bool:
        """Back to QUEUED with a new message, only from the state ``job`` was read in (for a lost
        run: the same attempt, still RUNNING, lease still dead). False when that changed."""
        before = job.status

        def back(j: pb.Job) -> bool:
            if j.status != before or j.attempt != job.attempt:
                return False
            if lost_run and self.store.lease_alive(job.id):
                return False
            j.status = pb.JOB_STATUS_QUEUED
            j.cancel_requested = False
            j.status_message = why
            if refund:  # a run stopped on purpose (worker shutdown) does not use up an attempt
                j.attempt = max(0, j.attempt - 1)
            j.ClearField("error")
            j.ClearField("finished_at")
            return True

        if self.store.update_job(job.id, back).status != pb.JOB_STATUS_QUEUED:
            return False
        self.status_event(job.id, before, pb.JOB_STATUS_QUEUED, why)
        self.enqueue(job.id, self.settings.default_queue)
        return True

    # --- events and checkpoints ----------------------------------------------------------
    def log(self, job_id: str, severity: pb.LogSeverity, message: str) -> None:
        self.store.append_event(
            pb.JobEvent(job_id=job_id, log=pb.LogLine(severity=severity, message=message))
        )

    def status_event(self, job_id: str, before: pb.JobStatus, after: pb.JobStatus, message: str) -> None:
        self.store.append_event(
            pb.JobEvent(
                job_id=job_id, status=pb.StatusChange(from_status=before, to_status=after, message=message)
            )
        )

    def list_events(
        self,
        job_id: str,
        after: int,
        limit: int,
        include_logs: bool,
        newest_first: bool = False,
        before: int = 0,
    ) -> tuple[list[pb.JobEvent], bool]:
        """A page of events (log lines only when asked) and whether more lie beyond it."""
        self.store.get_job(job_id)
        limit = max(1, min(limit or 100, 1000))
        out: list[pb.JobEvent] = []
        cursor = before if newest_first else after
        while len(out) <= limit:
            if newest_first:
                batch = self.store.events_before(job_id, cursor or None, limit + 1)
            else:
                batch = self.store.events_after(job_id, cursor, limit + 1)
            if not batch:
                break
            cursor = batch[-1].sequence
            out.extend(e for e in batch if include_logs or e.WhichOneof("event") != "log")
            if newest_first and cursor <= 1:
                break
        return out[:limit], len(out) > limit

    def watch(
        self, job_id: str, after: int, include_logs: bool, alive: Callable[[], bool]
    ) -> Iterator[pb.JobEvent]:
        """Replay, then follow; ends after the latest status change when it is terminal (an
        older terminal status that a resume left behind does not end it), or at once when the
        job is terminal and the caller has seen everything."""
        self.store.get_job(job_id)
        seen = after
        for batch in self.store.follow_events(job_id, after):
            for ev in batch:
                seen = ev.sequence
                if include_logs or ev.WhichOneof("event") != "log":
                    yield ev
                if (
                    ev.WhichOneof("event") == "status"
                    and ev.status.to_status in TERMINAL
                    and ev.sequence >= self.store.status_sequence(job_id)
                ):
                    return
            if not alive():
                return
            if not batch:
                job = self.store.get_job(job_id)
                if job.status in TERMINAL and seen >= job.last_event_sequence:
                    return

    def list_checkpoints(self, job_id: str, size: int, token: str) -> tuple[list[pb.Checkpoint], str]:
        self.store.get_job(job_id)
        limit = page_size(size)
        newest = list(reversed(self.store.checkpoints(job_id)))
        start = int(decode_token(token).get("offset", 0))
        page = newest[start : start + limit]
        more = start + limit < len(newest)
        return page, encode_token({"offset": start + limit}) if more else ""

    # --- lost workers ----------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Re-queue (or fail) running jobs whose worker died; see ``reap_lost``."""
        return reap_lost(self.store, self.settings.max_attempts, self.requeue, self.fail)

    def fail(self, job_id: str, code: str, message: str, param: str = "") -> pb.Job:
        def failed(j: pb.Job) -> bool:
            if j.status in TERMINAL:
                return False
            j.status = pb.JOB_STATUS_FAILED
            j.error.CopyFrom(pb.JobError(code=code, message=message, param=param))
            j.status_message = message
            j.finished_at.CopyFrom(now_ts())
            return True

        before, job = self.store.transition(job_id, failed)
        if before not in TERMINAL:
            self.status_event(job_id, before, pb.JOB_STATUS_FAILED, message)
        return job
