"""A job's automatic promotion: once its version is registered, an evaluation is queued that
moves the requested alias through the gate (``core.evaluations``), on the questions of the
dataset version the job trained on. A job trained on an uploaded file has no such questions:
it still succeeds, and its log says why nothing was promoted."""

from __future__ import annotations

from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import KeelError
from keel_common.grpc.client import channel
from keel_training.config import TrainingSettings
from keel_training.core import Enqueue
from keel_training.core.evaluations import Evaluations
from keel_training.core.files import Files
from keel_training.ingestion_client import IngestionDatasets
from keel_training.registry_client import RegistryModels
from keel_training.store import Store


def queue_promotion(
    settings: TrainingSettings,
    store: Store,
    artifacts: ArtifactStore,
    enqueue: Enqueue,
    job: pb.Job,
    model: str,
    version: int,
) -> tuple[str, str]:
    """(the evaluation's id or "", what to tell the job's log)."""
    gate = pb.EvaluationGate()
    gate.CopyFrom(job.auto_promote)
    gate.model, gate.version = model, version
    req = pb.CreateEvaluationRequest(tenant=job.tenant, creator=job.creator, gate=gate)
    if job.training_data.HasField("dataset"):
        req.dataset.CopyFrom(job.training_data.dataset)
    if not settings.ingestion_target:
        return "", "automatic promotion skipped: datasets need the ingestion service, which is not configured"
    with channel(settings.registry_target) as rch, channel(settings.ingestion_target) as ich:
        files = Files(settings, store, artifacts, IngestionDatasets(ich))
        try:
            ev = Evaluations(settings, store, files, RegistryModels(rch), enqueue).create(req, job_id=job.id)
        except KeelError as exc:
            return "", f"automatic promotion skipped: {exc.message}"
    alias = gate.alias or "production"
    return ev.id, f"automatic promotion to {alias} queued: evaluation {ev.id} gates {model}/{version}"
