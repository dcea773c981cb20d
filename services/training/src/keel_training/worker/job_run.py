"""One run of a job on a worker: claim it (a Redis lease, so a job runs at most once at a
time), train (SFT or DPO, from a base model or on top of a fine-tuned one) with events and
checkpoints, honour cancel at step boundaries, register the adapter exactly once, and turn any
crash into a FAILED job instead of a stuck queue.

A worker that dies stops renewing its lease; the API's reaper re-queues the job, and the
next run resumes from the newest checkpoint in the artifact store.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import random
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc

from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rpb_grpc
from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import InvalidArgument, KeelError
from keel_common.grpc.client import channel
from keel_common.periodic import Periodic
from keel_training import metrics
from keel_training.config import TrainingSettings
from keel_training.core import Enqueue, TrainingCore, fine_tuned_name
from keel_training.core.hyperparameters import data_kind
from keel_training.divergence import TrainingDiverged
from keel_training.store import TERMINAL, Store, now_ts
from keel_training.validation import validate_training_file

log = logging.getLogger(__name__)

BUSY = "busy: a previous run still holds the lease"


def drain_marker(worker_pid: int) -> Path:
    """A file the Celery main process creates when it starts a warm shutdown (SIGTERM); the
    job's child process, whose parent it is, sees it at the next step boundary."""
    return Path(tempfile.gettempdir()) / f"keel-training-draining-{worker_pid}"


def draining() -> bool:
    return drain_marker(os.getppid()).exists()


def code_version() -> str:
    return os.environ.get("KEEL_CODE_VERSION") or importlib.metadata.version("keel-training")


def train_config(hp: pb.LoraHyperparameters) -> Any:
    from keel_training.trainer import TrainConfig

    return TrainConfig(
        rank=hp.rank,
        alpha=hp.alpha,
        dropout=hp.dropout,
        target_modules=list(hp.target_modules),
        learning_rate=hp.learning_rate,
        epochs=hp.epochs,
        max_steps=hp.max_steps,
        batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        max_seq_len=hp.max_seq_len,
        seed=hp.seed,
        warmup_steps=hp.warmup_steps,
        save_steps=hp.save_steps,
        eval_steps=hp.eval_steps,
        early_stopping_patience=hp.early_stopping_patience,
    )


def _data_name(data: pb.TrainingData) -> str:
    """A job's data as the user named it: "file-…" or "ds_…@N"."""
    if data.HasField("dataset"):
        return f"{data.dataset.dataset_id}@{data.dataset.version}"
    return data.file_id


def _no_queue(job_id: str, queue: str) -> None:
    raise RuntimeError(f"this runner cannot queue {job_id} on {queue}")


class _Lease:
    """Renews the job's lease in the background; ``lost`` once another run owns the job."""

    def __init__(self, store: Store, job_id: str, owner: str, ttl_s: float, every_s: float) -> None:
        self.store, self.job_id, self.owner, self.ttl_s = store, job_id, owner, ttl_s
        self.lost = False
        self._renewer = Periodic(f"lease-{job_id}", every_s, self._renew)

    def _renew(self) -> bool:
        self.lost = not self.store.renew_lease(self.job_id, self.owner, self.ttl_s)
        return not self.lost

    def __enter__(self) -> _Lease:
        self._renewer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._renewer.stop()
        self.store.release_lease(self.job_id, self.owner)


class Runner:
    def __init__(
        self,
        settings: TrainingSettings,
        store: Store,
        artifacts: ArtifactStore,
        enqueue: Enqueue | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        # Workers queue too: a job paused by a shutting-down worker goes back on the queue.
        self.core = TrainingCore(settings, store, artifacts, enqueue or _no_queue)

    def run(self, job_id: str) -> str:
        """Run the job if it is ours to run; returns what happened (for the worker's log)."""
        job = self.store.get_job(job_id)
        if job.status in TERMINAL:
            return f"skipped: already {pb.JobStatus.Name(job.status)}"
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if not self.store.acquire_lease(job_id, owner, self.settings.lease_ttl_s):
            # RUNNING: its worker has it (or the reaper will). QUEUED: a run that just ended has
            # not let go yet, so this message must come back rather than be lost.
            return BUSY if job.status == pb.JOB_STATUS_QUEUED else "skipped: another worker holds the job"
        lease = _Lease(self.store, job_id, owner, self.settings.lease_ttl_s, self.settings.heartbeat_s)
        with lease:
            job = self.store.get_job(job_id)
            if job.status in TERMINAL:
                return f"skipped: already {pb.JobStatus.Name(job.status)}"
            if self.store.cancel_requested(job_id):
                self._finish(job_id, pb.JOB_STATUS_CANCELLED, "cancelled before it started")
                return "cancelled before start"
            if job.attempt >= self.settings.max_attempts:
                self.core.fail(job_id, "worker_lost", f"the job's worker was lost {job.attempt} times")
                return "failed: too many attempts"

            def start(j: pb.Job) -> bool:
                if j.status in TERMINAL:  # cancelled or failed since it was read
                    return False
                j.status = pb.JOB_STATUS_RUNNING
                j.attempt += 1
                j.status_message = f"running on {socket.gethostname()} (attempt {j.attempt})"
                if not j.HasField("started_at"):
                    j.started_at.CopyFrom(now_ts())
                return True

            before, job = self.store.transition(job_id, start)
            if job.status != pb.JOB_STATUS_RUNNING:
                return f"skipped: already {pb.JobStatus.Name(job.status)}"
            self.store.mark_running(job_id, True)
            self.core.status_event(job_id, before, pb.JOB_STATUS_RUNNING, job.status_message)
            began = time.monotonic()
            outcome = "failed"
            try:
                outcome = self._train(job, lease)
                return outcome
            except Exception as exc:
                log.exception("job failed", extra={"job_id": job_id})
                code = "training_error"
                if isinstance(exc, KeelError) and exc.field == "training_file":
                    code = "invalid_training_file"
                elif isinstance(exc, TrainingDiverged):
                    code = "training_diverged"
                message = exc.message if isinstance(exc, KeelError) else f"{type(exc).__name__}: {exc}"
                self.core.fail(job_id, code, message, getattr(exc, "field", None) or "")
                return f"failed: {message}"
            finally:
                # Only while the job is still ours: a run that lost its lease must not hide the
                # run that took over from the reaper.
                if not lease.lost and self.store.renew_lease(job_id, owner, self.settings.lease_ttl_s):
                    self.store.mark_running(job_id, False)
                metrics.JOB_DURATION.labels(outcome.split(":")[0]).observe(time.monotonic() - began)
                metrics.JOBS_FINISHED.labels(outcome.split(":")[0]).inc()

    def _finish(self, job_id: str, status: pb.JobStatus, message: str, change: Any = None) -> pb.Job:
        def done(j: pb.Job) -> None:
            j.status = status
            j.status_message = message
            j.finished_at.CopyFrom(now_ts())
            if change:
                change(j)

        before, job = self.store.transition(job_id, done)
        self.core.status_event(job_id, before, status, message)
        return job

    def _examples(self, job: pb.Job) -> tuple[list[Any], list[Any]]:
        kind = data_kind(job.method)
        content = self.artifacts.get_bytes(job.training_file_uri)
        train = validate_training_file(content, min_examples=1, field_name="training_file", kind=kind)
        if job.validation_file_uri:
            return train, validate_training_file(
                self.artifacts.get_bytes(job.validation_file_uri),
                min_examples=1,
                field_name="validation_file",
                kind=kind,
            )
        hp = job.hyperparameters
        split = hp.eval_split if hp.HasField("eval_split") else (0.1 if len(train) >= 50 else 0.0)
        n_eval = round(len(train) * split)
        if not n_eval:
            return train, []
        order = list(range(len(train)))
        random.Random(hp.seed).shuffle(order)
        held = set(order[:n_eval])
        return [e for i, e in enumerate(train) if i not in held], [train[i] for i in sorted(held)]

    def _train(self, job: pb.Job, lease: _Lease) -> str:
        import torch

        from keel_training.lora import load_for_training
        from keel_training.trainer import (
            Hooks,
            Objective,
            Sft,
            encode_example,
            pick_device,
            train,
        )

        device = pick_device(self.settings.device)
        if device.type == "cpu":
            torch.set_num_threads(self.settings.torch_threads or len(os.sched_getaffinity(0)))
        cfg = train_config(job.hyperparameters)
        work = Path(tempfile.mkdtemp(prefix=f"keel-{job.id}-"))
        try:
            model_dir = self.core.tokenizers.model_dir(job.base_model)
            train_raw, eval_raw = self._examples(job)
            start = self._starting_adapter(job, work)
            model, tok = load_for_training(model_dir, cfg, device, start)
            objective: Objective = Sft()
            encode: Any = encode_example
            if job.method == pb.TRAINING_METHOD_DPO:
                from keel_training.trainer_dpo import Dpo, encode_pair

                objective, encode = Dpo(job.dpo.beta), encode_pair
            train_data = [encode(tok, x, cfg.max_seq_len) for x in train_raw]
            eval_data = [encode(tok, x, cfg.max_seq_len) for x in eval_raw]
            resume = self._resume_dir(job, work)
            unit = "preference pairs" if job.method == pb.TRAINING_METHOD_DPO else "examples"
            self.core.log(
                job.id,
                pb.LOG_SEVERITY_INFO,
                f"training on {device.type}: {len(train_data)} {unit}, {len(eval_data)} for evaluation"
                + (f"; on top of {job.starting_adapter.ref}" if start else "")
                + (f"; resuming from step {resume[1]}" if resume else ""),
            )
            result = train(
                model,
                tok,
                train_data,
                eval_data,
                cfg,
                work / "out",
                device,
                hooks=Hooks(
                    on_step=lambda m: self._on_step(job.id, m),
                    on_eval=lambda m: self._on_step(job.id, m, evaluation=True),
                    on_checkpoint=lambda d, m: self._on_checkpoint(job, d, m),
                    should_stop=lambda: lease.lost or self.store.cancel_requested(job.id),
                    should_pause=draining,
                ),
                resume_from=resume[0] if resume else None,
                objective=objective,
                generation_eval=self._generation_eval(tok, eval_raw, device),
            )
            if lease.lost:
                return "abandoned: lease lost to another run"
            if result.outcome == "paused":
                current = self.store.get_job(job.id)
                why = f"worker shutting down; re-queued to resume from step {result.step}"
                self.core.requeue(current, why, refund=True)
                return "paused"
            if result.outcome == "cancelled":
                self._finish(job.id, pb.JOB_STATUS_CANCELLED, f"cancelled at step {result.step}")
                return "cancelled"
            if result.outcome == "early_stopping":
                self.core.log(
                    job.id,
                    pb.LOG_SEVERITY_INFO,
                    f"early stopping at step {result.step}: eval_loss stopped improving",
                )
            adapter = result.adapter_dir
            if start is not None:  # inference applies one adapter: the result must hold both
                from keel_training.adapters import stack_adapters

                adapter = stack_adapters(start, adapter, work / "stacked")
            return self._register(job, adapter, result.metrics, lease)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _generation_eval(self, tok: Any, eval_raw: list[Any], device: Any) -> Any:
        """Each evaluation also answers (up to ``eval_generations``) validation questions and
        scores the answers; None when there are none to ask."""
        from keel_training.generation_eval import evaluate_generation, qa_items, shared_similarity

        items = qa_items(eval_raw, self.settings.eval_generations)
        if not items:
            return None
        similarity = shared_similarity()
        max_new = self.settings.eval_max_new_tokens

        def run(model: Any) -> dict[str, float]:
            return evaluate_generation(model, tok, items, device, similarity, max_new_tokens=max_new).metrics

        return run

    def _starting_adapter(self, job: pb.Job, work: Path) -> Path | None:
        """The fine-tuned model's adapter a job trains on top of, verified against its sha256."""
        if not job.HasField("starting_adapter"):
            return None
        from keel_training.adapters import CONFIG, read_lora

        start = job.starting_adapter
        where = self.artifacts.materialize(start.artifact_uri, work / "start", start.artifact_sha256)
        if not (where / CONFIG).is_file():
            raise InvalidArgument(f"{start.model} ({start.ref}) is not a PEFT adapter", field="model")
        read_lora(where)  # refused now rather than after training: it could not be stacked
        return where

    def _resume_dir(self, job: pb.Job, work: Path) -> tuple[Path, int] | None:
        ckpts = self.store.checkpoints(job.id)
        if not ckpts:
            return None
        last = ckpts[-1]
        where = self.artifacts.materialize(last.uri, work / "resume", last.sha256)
        return where, last.step

    def _on_step(self, job_id: str, m: dict[str, Any], evaluation: bool = False) -> None:
        values = {
            k: float(v) for k, v in m.items() if k not in ("step", "total_steps", "epoch", "trained_tokens")
        }

        def progress(j: pb.Job) -> None:
            j.progress.step = int(m["step"])
            j.progress.total_steps = int(m["total_steps"])
            j.progress.epoch = float(m["epoch"])
            if not evaluation:
                j.progress.trained_tokens = int(m["trained_tokens"])
            j.progress.metrics.update(values)

        self.store.update_job(job_id, progress)
        self.store.append_event(
            pb.JobEvent(
                job_id=job_id,
                metrics=pb.StepMetrics(
                    step=int(m["step"]),
                    total_steps=int(m["total_steps"]),
                    epoch=float(m["epoch"]),
                    trained_tokens=int(m.get("trained_tokens", 0)),
                    metrics=values,
                    eval=evaluation,
                ),
            )
        )
        if not evaluation:
            metrics.STEP_TIME.observe(values["step_seconds"])
            metrics.TOKENS_PER_SECOND.set(values["tokens_per_second"])
            metrics.TOKENS.inc(values["step_tokens"])

    def _on_checkpoint(self, job: pb.Job, local: Path, m: dict[str, Any]) -> None:
        step = int(local.name.removeprefix("step-"))
        ref = self.artifacts.put_dir(f"training/{job.id}/checkpoints/step-{step}", local)
        current = self.store.get_job(job.id)
        ckpt = pb.Checkpoint(
            id=f"ckpt-{job.id}-{step}",
            job_id=job.id,
            attempt=current.attempt,
            step=step,
            epoch=current.progress.epoch,
            uri=ref.uri,
            sha256=ref.sha256,
            size_bytes=ref.size_bytes,
            metrics={k: float(v) for k, v in m.items()},
            created_at=now_ts(),
        )
        self.store.add_checkpoint(ckpt)
        self.store.append_event(pb.JobEvent(job_id=job.id, checkpoint=ckpt))

    @staticmethod
    def _tagged(stub: rpb_grpc.RegistryServiceStub, name: str) -> rpb.ModelVersion | None:
        found = stub.ListVersions(rpb.ListVersionsRequest(tag=name, page_size=1), timeout=30)
        return found.versions[0] if found.versions else None

    def _register(self, job: pb.Job, adapter_dir: Path, result: dict[str, float], lease: _Lease) -> str:
        """Store the adapter and create its registry version, once: a version already tagged
        with this job's model name (a run that died after registering) is reused."""
        name = fine_tuned_name(job.base_model, job.tenant, job.suffix, job.id)
        hp = job.hyperparameters
        params = {
            "rank": str(hp.rank),
            "alpha": f"{hp.alpha:g}",
            "dropout": f"{hp.dropout:g}",
            "target_modules": ",".join(hp.target_modules),
            "learning_rate": f"{hp.learning_rate:g}",
            "epochs": str(hp.epochs),
            "batch_size": str(hp.batch_size),
            "max_seq_len": str(hp.max_seq_len),
            "gradient_accumulation_steps": str(hp.gradient_accumulation_steps),
            "seed": str(hp.seed),
            "training_file": _data_name(job.training_data) or job.training_file_uri,
            "validation_file": job.validation_data.file_id or job.validation_file_uri,
            "code_version": code_version(),
            "method": "dpo" if job.method == pb.TRAINING_METHOD_DPO else "supervised",
        }
        if job.method == pb.TRAINING_METHOD_DPO:
            params["dpo_beta"] = f"{job.dpo.beta:g}"
        if job.HasField("starting_adapter"):
            params["starting_model"] = job.starting_adapter.model
        with channel(self.settings.registry_target) as ch:
            stub = rpb_grpc.RegistryServiceStub(ch)  # type: ignore[no-untyped-call]
            version = self._tagged(stub, name)
            if version is None:
                if lease.lost or not self.store.renew_lease(job.id, lease.owner, self.settings.lease_ttl_s):
                    return "abandoned: lease lost before registering"
                # A key per run: a registered adapter is never overwritten by a later run.
                ref = self.artifacts.put_dir(f"training/{job.id}/adapter/attempt-{job.attempt}", adapter_dir)
                try:
                    version = stub.CreateVersion(
                        rpb.CreateVersionRequest(
                            model=job.output_model,
                            base_model=job.base_model,
                            artifact_uri=ref.uri,
                            artifact_sha256=ref.sha256,
                            metrics=result,
                            params=params,
                            lineage=rpb.Lineage(
                                training_job_id=job.id,
                                dataset_id=job.training_data.dataset.dataset_id or job.training_data.file_id,
                                dataset_version=(
                                    str(job.training_data.dataset.version)
                                    if job.training_data.HasField("dataset")
                                    else ""
                                ),
                                source="keel-training",
                                parent_version=job.starting_adapter.ref,
                            ),
                            tags=[name],
                            description=f"fine-tuned by {job.id} ({params['method']})",
                            creator=job.creator,
                            create_model=True,
                            tenant=job.tenant,
                        ),
                        timeout=60,
                    )
                except grpc.RpcError as err:
                    # The reply may be what was lost: a version created anyway is the result.
                    version = self._tagged(stub, name)
                    if version is None:
                        raise RuntimeError(f"registering the adapter failed: {err.details()}") from None
        model_ref = f"{version.model}/{version.version}"
        promotion = ""
        if job.HasField("auto_promote"):
            from keel_training.worker.promotion import queue_promotion

            promotion, said = queue_promotion(
                self.settings,
                self.store,
                self.artifacts,
                self.core.enqueue,
                job,
                version.model,
                version.version,
            )
            self.core.log(job.id, pb.LOG_SEVERITY_INFO if promotion else pb.LOG_SEVERITY_WARNING, said)

        def succeeded(j: pb.Job) -> None:
            j.fine_tuned_model = name
            j.result.CopyFrom(
                pb.JobResult(
                    model=version.model,
                    version=version.version,
                    ref=model_ref,
                    artifact_uri=version.artifact_uri,
                    artifact_sha256=version.artifact_sha256,
                    metrics=result,
                    promotion_evaluation_id=promotion,
                )
            )

        self._finish(job.id, pb.JOB_STATUS_SUCCEEDED, f"registered as {model_ref} ({name})", succeeded)
        return "succeeded"
