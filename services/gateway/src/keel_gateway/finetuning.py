"""Files and fine-tuning jobs in OpenAI's shapes, over the training service's gRPC API.

The gateway owns the tenant boundary here: every job and file is fetched and checked against
the caller's tenant before it is shown or changed, and another tenant's looks missing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc

from keel.training.v1 import training_pb2 as pb
from keel_common.contract import ACTOR_HEADER
from keel_common.paging import encode_token
from keel_common.protoenum import enum_name
from keel_gateway.errors import ApiError, from_grpc
from keel_gateway.listing import limit_of, page
from keel_gateway.registry_schemas import PRODUCTION
from keel_gateway.schemas import CreateFineTuningJobRequest, DpoHyperparameters
from keel_gateway.training_stub import Metadata, TrainingStub

_HP = {  # request field → LoraHyperparameters field
    "n_epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate_multiplier": "learning_rate_multiplier",
    "learning_rate": "learning_rate",
    "lora_r": "rank",
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
    "max_seq_len": "max_seq_len",
    "max_steps": "max_steps",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "warmup_steps": "warmup_steps",
    "save_steps": "save_steps",
    "eval_steps": "eval_steps",
    "eval_split": "eval_split",
    "early_stopping_patience": "early_stopping_patience",
}
# The training service's field names → the OpenAI request's.
_PARAMS = {
    **{name: name for name in ("model", "suffix", "metadata", "training_file", "validation_file")},
    **{name: name for name in ("file", "purpose", "hyperparameters", "idempotency_key")},
    "filename": "file",
    "hyperparameters.target_modules": "hyperparameters.lora_target_modules",
    **{f"hyperparameters.{field}": f"hyperparameters.{name}" for name, field in _HP.items()},
    "method": "method.type",
    "dpo.beta": "method.dpo.hyperparameters.beta",
    **{
        f"auto_promote.{name}": f"auto_promote.{name}"
        for name in ("alias", "metric", "margin", "min_examples")
    },
}
T = TypeVar("T")
_LEVEL = {pb.LOG_SEVERITY_WARNING: "warn", pb.LOG_SEVERITY_ERROR: "error"}


def _error(err: grpc.RpcError, what: str) -> ApiError:
    api = from_grpc(err, "training", _PARAMS)
    if api.status == 404:
        api.code = "not_found"
    if api.status == 400:
        api.code = "invalid_training_file" if api.param in ("training_file", "file") else "invalid_value"
    if api.status == 409 and what == "state":  # a job in the wrong state for cancel or resume
        api.status, api.code = 400, "invalid_request"
    return api


_DATASET_REF = re.compile(r"^(ds_[0-9a-z]+)(?:@(\d+))?$")


def training_data(value: str) -> pb.TrainingData:
    """A file id ("file-…") or a dataset version from ingestion ("ds_…@N"; "ds_…" alone is its
    latest READY version, pinned when the job is created)."""
    m = _DATASET_REF.match(value)
    if m:
        return pb.TrainingData(dataset=pb.DatasetRef(dataset_id=m.group(1), version=int(m.group(2) or 0)))
    return pb.TrainingData(file_id=value)


def _data_name(data: pb.TrainingData) -> str:
    if data.HasField("dataset"):
        return f"{data.dataset.dataset_id}@{data.dataset.version}"
    return data.file_id


def _status(value: int) -> str:
    return enum_name(pb.JobStatus, value).lower()


def file_object(f: pb.File) -> dict[str, Any]:
    return {
        "id": f.id,
        "object": "file",
        "bytes": f.bytes,
        "created_at": f.created_at.seconds,
        "filename": f.filename,
        "purpose": f.purpose,
        "status": f.status or "processed",
        "status_details": f.status_details or None,
        "expires_at": None,
        "keel": {"examples": f.examples, "sha256": f.sha256},
    }


def _method(j: pb.Job, public_hp: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``method`` of a job: its type and that type's hyperparameters."""
    if j.method == pb.TRAINING_METHOD_DPO:
        return {"type": "dpo", "dpo": {"hyperparameters": {**public_hp, "beta": round(j.dpo.beta, 6)}}}
    return {"type": "supervised", "supervised": {"hyperparameters": public_hp}}


# The training service's names of the "auto" hyperparameters → the request's.
_AUTO_NAMES = {"epochs": "n_epochs"}


def _auto_promote(j: pb.Job) -> dict[str, Any] | None:
    """The job's auto_promote as requested, with the proto's documented defaults filled in."""
    if not j.HasField("auto_promote"):
        return None
    g = j.auto_promote
    return {
        "alias": g.alias or PRODUCTION,
        "metric": g.metric or "eval_f1",
        "margin": g.margin,
        "min_examples": g.min_examples or 10,
    }


def job_object(j: pb.Job) -> dict[str, Any]:
    hp = j.hyperparameters
    public_hp = {
        "n_epochs": hp.epochs,
        "batch_size": hp.batch_size,
        "learning_rate_multiplier": round(hp.learning_rate_multiplier, 6),
    }
    start = j.starting_adapter
    return {
        "object": "fine_tuning.job",
        "id": j.id,
        # As requested: a fine-tuned model the job trains on top of, else the base model.
        "model": start.model or j.base_model,
        "created_at": j.created_at.seconds,
        "finished_at": j.finished_at.seconds if j.HasField("finished_at") else None,
        "fine_tuned_model": j.fine_tuned_model or None,
        "organization_id": j.tenant,
        "result_files": [],
        "status": _status(j.status),
        "training_file": _data_name(j.training_data) or j.training_file_uri,
        "validation_file": (_data_name(j.validation_data) or j.validation_file_uri) or None,
        "hyperparameters": public_hp,
        "method": _method(j, public_hp),
        "trained_tokens": j.progress.trained_tokens if j.status == pb.JOB_STATUS_SUCCEEDED else None,
        "error": (
            {"code": j.error.code, "message": j.error.message, "param": j.error.param or None}
            if j.HasField("error")
            else None
        ),
        "seed": hp.seed,
        "suffix": j.suffix or None,
        "user_provided_suffix": j.suffix or None,
        "estimated_finish": None,
        "integrations": [],
        "metadata": dict(j.metadata) or None,
        "keel": {
            "attempt": j.attempt,
            "status_message": j.status_message,
            "cancel_requested": j.cancel_requested,
            "progress": {
                "step": j.progress.step,
                "total_steps": j.progress.total_steps,
                "epoch": round(j.progress.epoch, 4),
                "trained_tokens": j.progress.trained_tokens,
                "metrics": dict(j.progress.metrics),
            },
            "hyperparameters": {
                "lora_r": hp.rank,
                "lora_alpha": hp.alpha,
                "lora_dropout": round(hp.dropout, 6),
                "lora_target_modules": list(hp.target_modules),
                "learning_rate": hp.learning_rate,
                "max_seq_len": hp.max_seq_len,
                "gradient_accumulation_steps": hp.gradient_accumulation_steps,
                "save_steps": hp.save_steps,
                "eval_steps": hp.eval_steps,
                "early_stopping_patience": hp.early_stopping_patience,
                "warmup_steps": hp.warmup_steps,
                # the values Keel chose because the request left them "auto"
                "auto": [_AUTO_NAMES.get(name, name) for name in hp.auto],
            },
            "truncated_examples": j.truncated_examples,
            "base_model": j.base_model,
            "starting_version": start.ref or None,
            "registry_version": j.result.ref or None,
            "auto_promote": _auto_promote(j),
            "promotion_evaluation_id": j.result.promotion_evaluation_id or None,
            "last_event_sequence": j.last_event_sequence,
        },
    }


def event_id(job_id: str, seq: int) -> str:
    return f"ftevent-{job_id}-{seq}"


def _event_seq(job_id: str, value: str | None, param: str) -> int | None:
    if not value:
        return None
    prefix = f"ftevent-{job_id}-"
    if not value.startswith(prefix) or not value[len(prefix) :].isdigit():
        raise ApiError(400, f"'{value}' is not an event id of this job.", param=param, code="invalid_value")
    return int(value[len(prefix) :])


def event_object(e: pb.JobEvent) -> dict[str, Any]:
    kind = e.WhichOneof("event")
    level, typ = "info", "message"
    data: dict[str, Any] | None = None
    if kind == "status":
        message = f"Job status: {_status(e.status.to_status)}" + (
            f" ({e.status.message})" if e.status.message else ""
        )
        data = {"status": _status(e.status.to_status)}
        if e.status.to_status == pb.JOB_STATUS_FAILED:
            level = "error"
    elif kind == "metrics":
        typ = "metrics"
        m = dict(e.metrics.metrics)
        data = {
            "step": e.metrics.step,
            "total_steps": e.metrics.total_steps,
            "epoch": round(e.metrics.epoch, 4),
            "trained_tokens": e.metrics.trained_tokens,
            **{("train_loss" if k == "loss" else k): v for k, v in m.items()},
        }
        if e.metrics.eval:
            shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(m.items()))
            message = f"Step {e.metrics.step}/{e.metrics.total_steps}: {shown}"
        else:
            message = f"Step {e.metrics.step}/{e.metrics.total_steps}: training loss={m.get('loss', 0):.4f}"
    elif kind == "checkpoint":
        message = f"Checkpoint created at step {e.checkpoint.step}"
        data = {"step": e.checkpoint.step, "checkpoint": e.checkpoint.id}
    else:
        message = e.log.message
        level = _LEVEL.get(e.log.severity, "info")
    return {
        "object": "fine_tuning.job.event",
        "id": event_id(e.job_id, e.sequence),
        "created_at": e.at.seconds,
        "level": level,
        "message": message,
        "data": data,
        "type": typ,
    }


def checkpoint_object(c: pb.Checkpoint, job: pb.Job) -> dict[str, Any]:
    name = job.fine_tuned_model or f"ft:{job.base_model}:{job.tenant}:{job.suffix}:{job.id}"
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": c.id,
        "created_at": c.created_at.seconds,
        "fine_tuned_model_checkpoint": f"{name}:ckpt-step-{c.step}",
        "step_number": c.step,
        "metrics": {("train_loss" if k == "loss" else k): v for k, v in c.metrics.items()},
        "fine_tuning_job_id": c.job_id,
    }


class FineTuning:
    def __init__(self, stub: TrainingStub, timeout_s: float = 120.0) -> None:
        self.stub = stub
        self.timeout_s = timeout_s

    @staticmethod
    def _meta(actor: str = "") -> Metadata:
        return ((ACTOR_HEADER, actor),) if actor else ()

    @staticmethod
    async def _call(pending: Awaitable[T], what: str = "") -> T:
        """Await a call on the stub; a failure becomes the client's ApiError."""
        try:
            return await pending
        except grpc.RpcError as err:
            raise _error(err, what) from None

    # --- files ----------------------------------------------------------------------------
    async def upload_file(
        self, tenant: str, actor: str, filename: str, purpose: str, content: bytes
    ) -> dict[str, Any]:
        req = pb.UploadFileRequest(
            tenant=tenant, filename=filename, purpose=purpose, content=content, creator=actor
        )
        return file_object(
            await self._call(self.stub.UploadFile(req, timeout=self.timeout_s, metadata=self._meta(actor)))
        )

    async def list_files(
        self, tenant: str, purpose: str | None, after: str | None, limit: int | None
    ) -> dict[str, Any]:
        req = pb.ListFilesRequest(
            tenant=tenant,
            purpose=purpose or "",
            page_size=limit_of(limit, 100),
            page_token=encode_token({"after": after}) if after else "",
        )
        resp = await self._call(self.stub.ListFiles(req, timeout=self.timeout_s))
        return page([file_object(f) for f in resp.files], bool(resp.next_page_token))

    async def get_file(self, tenant: str, file_id: str) -> dict[str, Any]:
        req = pb.GetFileRequest(file_id=file_id, tenant=tenant)
        return file_object(await self._call(self.stub.GetFile(req, timeout=self.timeout_s)))

    async def delete_file(self, tenant: str, file_id: str) -> dict[str, Any]:
        req = pb.DeleteFileRequest(file_id=file_id, tenant=tenant)
        f = await self._call(self.stub.DeleteFile(req, timeout=self.timeout_s))
        return {"id": f.id, "object": "file", "deleted": True}

    # --- jobs -----------------------------------------------------------------------------
    async def _job(self, tenant: str, job_id: str) -> pb.Job:
        job = await self._call(self.stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=self.timeout_s))
        if job.tenant != tenant:
            raise ApiError(
                404, f"No fine-tuning job with id '{job_id}'.", param="fine_tuning_job_id", code="not_found"
            )
        return job

    async def create_job(
        self, tenant: str, actor: str, body: CreateFineTuningJobRequest, idempotency_key: str
    ) -> dict[str, Any]:
        hp = pb.LoraHyperparameters()
        given = body.effective_hyperparameters()
        for name, target in _HP.items():
            value = getattr(given, name)
            if value is None or value == "auto":
                continue
            setattr(hp, target, value)
        if given.lora_target_modules:
            hp.target_modules.extend(given.lora_target_modules)
        if body.seed is not None:
            hp.seed = body.seed
        req = pb.CreateJobRequest(
            tenant=tenant,
            creator=actor,
            base_model=body.model,
            training_data=training_data(body.training_file),
            hyperparameters=hp,
            idempotency_key=idempotency_key,
            suffix=body.suffix or "",
            metadata=body.metadata or {},
        )
        if body.method and body.method.type == "dpo":
            req.method = pb.TRAINING_METHOD_DPO
            if isinstance(given, DpoHyperparameters) and given.beta not in (None, "auto"):
                req.dpo.beta = float(given.beta)  # unset: the training service's default
        if body.validation_file:
            req.validation_data.CopyFrom(training_data(body.validation_file))
        if body.auto_promote is not None:
            ap = body.auto_promote
            req.auto_promote.SetInParent()  # set, even when every field is left to its default
            req.auto_promote.alias = ap.alias or ""
            req.auto_promote.metric = ap.metric or ""
            req.auto_promote.margin = ap.margin or 0.0
            req.auto_promote.min_examples = ap.min_examples or 0
        job = await self._call(self.stub.CreateJob(req, timeout=self.timeout_s, metadata=self._meta(actor)))
        return job_object(job)

    async def list_jobs(self, tenant: str, after: str | None, limit: int | None) -> dict[str, Any]:
        req = pb.ListJobsRequest(
            tenant=tenant,
            page_size=limit_of(limit),
            page_token=encode_token({"after": after}) if after else "",
        )
        resp = await self._call(self.stub.ListJobs(req, timeout=self.timeout_s))
        return page([job_object(j) for j in resp.jobs], bool(resp.next_page_token))

    async def get_job(self, tenant: str, job_id: str) -> dict[str, Any]:
        return job_object(await self._job(tenant, job_id))

    async def cancel_job(self, tenant: str, actor: str, job_id: str) -> dict[str, Any]:
        await self._job(tenant, job_id)
        req = pb.CancelJobRequest(job_id=job_id, actor=actor)
        call = self.stub.CancelJob(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return job_object(await self._call(call, "state"))

    async def resume_job(self, tenant: str, actor: str, job_id: str) -> dict[str, Any]:
        """Re-queue a failed or cancelled job from its newest checkpoint."""
        await self._job(tenant, job_id)
        req = pb.ResumeJobRequest(job_id=job_id, actor=actor)
        call = self.stub.ResumeJob(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return job_object(await self._call(call, "state"))

    async def list_events(
        self, tenant: str, job_id: str, after: str | None, limit: int | None
    ) -> dict[str, Any]:
        """Newest first, as OpenAI lists them; ``after`` is the last event id already seen."""
        await self._job(tenant, job_id)
        req = pb.ListJobEventsRequest(
            job_id=job_id,
            limit=limit_of(limit),
            include_logs=True,
            newest_first=True,
            before_sequence=_event_seq(job_id, after, "after") or 0,
        )
        resp = await self._call(self.stub.ListJobEvents(req, timeout=self.timeout_s))
        return page([event_object(e) for e in resp.events], resp.has_more)

    async def follow(self, tenant: str, job_id: str, after: str | None) -> AsyncIterator[dict[str, Any]]:
        """Events oldest first from ``after``, then live ones until the job ends."""
        await self._job(tenant, job_id)
        start = _event_seq(job_id, after, "after") or 0
        call = self.stub.WatchJob(pb.WatchJobRequest(job_id=job_id, after_sequence=start, include_logs=True))
        try:
            async for e in call:
                yield event_object(e)
        except grpc.RpcError as err:
            raise _error(err, "events") from None
        finally:
            call.cancel()

    async def checkpoints(
        self, tenant: str, job_id: str, after: str | None, limit: int | None
    ) -> dict[str, Any]:
        job = await self._job(tenant, job_id)
        n = limit_of(limit, 10)
        req = pb.ListCheckpointsRequest(job_id=job_id, page_size=500)
        resp = await self._call(self.stub.ListCheckpoints(req, timeout=self.timeout_s))
        items = [checkpoint_object(c, job) for c in resp.checkpoints]
        if after:
            ids = [c["id"] for c in items]
            if after not in ids:
                raise ApiError(
                    400, f"'{after}' is not a checkpoint of this job.", param="after", code="invalid_value"
                )
            items = items[ids.index(after) + 1 :]
        return page(items[:n], len(items) > n)
