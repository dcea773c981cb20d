"""Evaluations on demand and promotion gates, free of transports: a request is checked (models
resolved in the caller's tenant, the dataset version READY, a gate's candidate and alias) and
queued like a job; a worker (``worker.eval_run``) answers the questions and records the scores.

A gate compares the candidate version with what its alias serves now, on the same questions:
the alias's current version, or the base model when the alias does not exist yet (a first
promotion must beat the model it fine-tunes)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import FailedPrecondition, InvalidArgument, NotFound
from keel_common.ids import new_id
from keel_training.config import TrainingSettings
from keel_training.core.datasets import ResolvedDataset
from keel_training.core.files import Files
from keel_training.core.models import ModelResolver, starting_adapter
from keel_training.store import Store, now_ts
from keel_training.validation import CHAT, PREFERENCE

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "production"
DEFAULT_METRIC = "eval_f1"
DEFAULT_MIN_EXAMPLES = 10
DEFAULT_LIMIT = 64
MAX_MODELS = 8
SPLITS = ("validation", "train")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# Scores an evaluation can gate on (the closed-book ones exist for qa_with_context sets only).
GATE_METRICS = (
    "eval_f1",
    "eval_exact_match",
    "eval_similarity",
    "closed_book_f1",
    "closed_book_exact_match",
    "closed_book_similarity",
)


@dataclass(frozen=True)
class Target:
    """A model an evaluation asks: the base model, and the adapter to apply (None: the base)."""

    model: str  # as requested
    ref: str  # "name/N" or the base model id
    base_model: str
    artifact_uri: str = ""
    artifact_sha256: str = ""


def check_gate(gate: pb.EvaluationGate) -> pb.EvaluationGate:
    """The gate with its defaults filled in, or InvalidArgument naming the field."""
    out = pb.EvaluationGate()
    out.CopyFrom(gate)
    if not gate.model:
        raise InvalidArgument("is required", field="gate.model")
    if gate.version < 1:
        raise InvalidArgument("must be a version number (1 or more)", field="gate.version")
    out.alias = gate.alias or DEFAULT_ALIAS
    if not _ALIAS.match(out.alias):
        raise InvalidArgument(f"{out.alias!r} is not an alias name", field="gate.alias")
    out.metric = gate.metric or DEFAULT_METRIC
    if out.metric not in GATE_METRICS:
        raise InvalidArgument(
            f"unknown metric {out.metric!r}; one of {', '.join(GATE_METRICS)}", field="gate.metric"
        )
    if not 0 <= gate.margin <= 1:  # the scores lie in [0, 1] (similarity in [-1, 1])
        raise InvalidArgument(f"must be in [0, 1], got {gate.margin:g}", field="gate.margin")
    if gate.min_examples < 0 or gate.min_examples > 10_000:
        raise InvalidArgument("must be between 0 and 10000", field="gate.min_examples")
    out.min_examples = gate.min_examples or DEFAULT_MIN_EXAMPLES
    return out


class Evaluations:
    def __init__(
        self,
        settings: TrainingSettings,
        store: Store,
        files: Files,
        models: ModelResolver,
        enqueue: Callable[[str, str], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.models = models
        self.enqueue = enqueue

    # --- resolution (also used by the worker) ---------------------------------------------
    def target(self, model: str, tenant: str, field: str = "models") -> Target:
        if model in self.settings.base_models:
            return Target(model, model, model)
        try:
            base, adapter = starting_adapter(self.models, model, tenant, self.settings.base_models)
        except InvalidArgument as exc:
            if not exc.message.startswith("unknown base model"):
                raise InvalidArgument(exc.message, field=field) from exc
            bases = ", ".join(sorted(self.settings.base_models))
            raise InvalidArgument(
                f"unknown model {model!r}; a base model ({bases}) or a registry model of yours", field=field
            ) from exc
        return Target(model, adapter.ref, base, adapter.artifact_uri, adapter.artifact_sha256)

    def dataset(self, ref: pb.DatasetRef, tenant: str, split: str) -> tuple[ResolvedDataset, str]:
        """(the dataset version, the URI of the split's JSONL); any chat or preference format."""
        data = pb.TrainingData(dataset=ref)
        try:
            ds = self.files.dataset(data, tenant, "dataset", CHAT)
        except InvalidArgument as exc:
            if "preference" not in exc.message:
                raise
            ds = self.files.dataset(data, tenant, "dataset", PREFERENCE)
        uri = ds.validation_uri if split == "validation" else ds.train_uri
        if not uri:
            raise FailedPrecondition(
                f"dataset version {ds.dataset_id}@{ds.version} has no {split} split; "
                "evaluate on split 'train', or build a version with a validation fraction",
                field="split",
            )
        return ds, uri

    # --- the API --------------------------------------------------------------------------
    def create(self, req: pb.CreateEvaluationRequest, job_id: str = "") -> pb.Evaluation:
        if not req.tenant:
            raise InvalidArgument("is required", field="tenant")
        split = req.split or "validation"
        if split not in SPLITS:
            raise InvalidArgument(f"must be one of {', '.join(SPLITS)}", field="split")
        limit = req.limit or DEFAULT_LIMIT
        if not 1 <= limit <= 1000:
            raise InvalidArgument("must be between 1 and 1000", field="limit")
        ev = pb.Evaluation(
            id=new_id("eval"),
            tenant=req.tenant,
            creator=req.creator or "anonymous",
            split=split,
            limit=limit,
            status=pb.EVALUATION_STATUS_QUEUED,
            status_message="queued",
            created_at=now_ts(),
            job_id=job_id,
        )
        dataset = pb.DatasetRef()
        dataset.CopyFrom(req.dataset)
        if req.HasField("gate"):
            if req.models:
                raise InvalidArgument(
                    "a gated evaluation compares its candidate and alias; give no models", field="models"
                )
            gate = check_gate(req.gate)
            candidate = self.target(f"{gate.model}/{gate.version}", req.tenant, "gate.version")
            current = self.models.resolve(f"{gate.model}@{gate.alias}")
            if current is not None and current.ref == candidate.ref:
                raise FailedPrecondition(
                    f"{gate.alias} already points at {candidate.ref}", field="gate.alias"
                )
            baseline = current.ref if current is not None else candidate.base_model
            ev.models.extend([candidate.ref, baseline])
            ev.results.add(model=candidate.ref, ref=candidate.ref)
            ev.results.add(model=baseline, ref=baseline)
            ev.gate.CopyFrom(gate)
            if not dataset.dataset_id:
                dataset = self._lineage_dataset(candidate)
        else:
            if not req.models:
                raise InvalidArgument(
                    "name at least one model (a base model id or a registry ref)", field="models"
                )
            if len(req.models) > MAX_MODELS:
                raise InvalidArgument(f"at most {MAX_MODELS} models per evaluation", field="models")
            for i, m in enumerate(req.models):
                ev.results.add(model=m, ref=self.target(m, req.tenant, f"models[{i}]").ref)
            ev.models.extend(req.models)
        if not dataset.dataset_id:
            raise InvalidArgument("is required (ds_…@N)", field="dataset")
        ds, ev.questions_uri = self.dataset(dataset, req.tenant, split)
        ev.dataset.CopyFrom(pb.DatasetRef(dataset_id=ds.dataset_id, version=ds.version))
        self.store.put_evaluation(ev, self.settings.evaluation_ttl_s)
        try:
            self.enqueue(ev.id, self.settings.default_queue)
        except Exception as exc:
            self.finish(ev.id, pb.EVALUATION_STATUS_FAILED, f"the evaluation could not be queued: {exc}")
            raise
        log.info("evaluation queued", extra={"evaluation_id": ev.id, "tenant": ev.tenant})
        return self.store.get_evaluation(ev.id)

    def _lineage_dataset(self, candidate: Target) -> pb.DatasetRef:
        """The dataset the candidate was trained on, from its registry lineage."""
        found = self.models.resolve(candidate.ref)
        if found is None or not found.dataset_id.startswith("ds_") or found.dataset_version < 1:
            raise InvalidArgument(
                f"{candidate.ref} was not trained on a dataset version; name the questions (ds_…@N)",
                field="dataset",
            )
        return pb.DatasetRef(dataset_id=found.dataset_id, version=found.dataset_version)

    def get(self, evaluation_id: str, tenant: str = "") -> pb.Evaluation:
        ev = self.store.get_evaluation(evaluation_id)
        if tenant and ev.tenant != tenant:
            raise NotFound(f"no evaluation {evaluation_id!r}", field="evaluation_id")
        return ev

    def finish(self, evaluation_id: str, status: pb.EvaluationStatus, message: str) -> pb.Evaluation:
        def done(e: pb.Evaluation) -> None:
            e.status = status
            e.status_message = message
            e.finished_at.CopyFrom(now_ts())

        return self.store.update_evaluation(evaluation_id, done)
