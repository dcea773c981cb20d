"""One evaluation on a worker: every model answers the same questions (each base model loaded
once, each registry version's adapter applied over it in turn), the scores are stored on the
evaluation and on the registry versions, and a gate moves its alias when the candidate is at
least as good as what the alias serves now. The registry's alias event records both scores."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rpb_grpc
from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import FailedPrecondition, KeelError
from keel_common.grpc.client import channel
from keel_training.config import TrainingSettings
from keel_training.core.tokenizers import Tokenizers
from keel_training.registry_client import RegistryModels
from keel_training.store import Store, now_ts
from keel_training.validation import parse_jsonl

log = logging.getLogger(__name__)

ANSWERS_KEPT = 5
# The scores written onto registry versions, keyed by the questions they were asked.
STORED = ("eval_exact_match", "eval_f1", "eval_similarity", "closed_book_exact_match", "closed_book_f1")
_DONE = (pb.EVALUATION_STATUS_SUCCEEDED, pb.EVALUATION_STATUS_FAILED)


def registry_key(metric: str, ev: pb.Evaluation) -> str:
    """``eval_f1:ds_…:2:validation``: a score is only comparable on the same questions."""
    return f"{metric}:{ev.dataset.dataset_id}:{ev.dataset.version}:{ev.split}"


def gate_decision(
    gate: pb.EvaluationGate,
    examples: int,
    candidate: dict[str, float],
    current: dict[str, float],
    current_ref: str,
) -> pb.GateOutcome:
    """Whether the candidate may take the alias: enough questions, the metric on both sides,
    candidate >= current + margin."""
    out = pb.GateOutcome(current_ref=current_ref)
    if examples < gate.min_examples:
        out.message = f"gate failed: {examples} questions, the gate needs at least {gate.min_examples}"
        return out
    if gate.metric not in candidate or gate.metric not in current:
        out.message = (
            f"gate failed: the evaluation has no {gate.metric} "
            "(closed-book scores need questions asked with a passage)"
        )
        return out
    out.candidate_score, out.current_score = candidate[gate.metric], current[gate.metric]
    need = out.current_score + gate.margin
    out.passed = out.candidate_score >= need
    verdict = "passed" if out.passed else "failed"
    out.message = (
        f"gate {verdict}: {gate.metric} {out.candidate_score:.3f} for {gate.model}/{gate.version} vs "
        f"{out.current_score:.3f} for {current_ref} (needs >= {need:.3f}, margin {gate.margin:g}) "
        f"on {examples} questions"
    )
    return out


class EvalRunner:
    def __init__(self, settings: TrainingSettings, store: Store, artifacts: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.tokenizers = Tokenizers(settings, artifacts)

    def run(self, evaluation_id: str) -> str:
        ev = self.store.get_evaluation(evaluation_id)
        if ev.status in _DONE:
            return f"skipped: already {pb.EvaluationStatus.Name(ev.status)}"

        def running(e: pb.Evaluation) -> None:
            e.status = pb.EVALUATION_STATUS_RUNNING
            e.status_message = "answering the questions"

        self.store.update_evaluation(evaluation_id, running)
        work = Path(tempfile.mkdtemp(prefix=f"keel-{evaluation_id}-"))
        try:
            with channel(self.settings.registry_target) as ch:
                stub = rpb_grpc.RegistryServiceStub(ch)  # type: ignore[no-untyped-call]
                message = self._evaluate(ev, work, RegistryModels(ch), stub)
            self._finish(evaluation_id, pb.EVALUATION_STATUS_SUCCEEDED, message)
            return "succeeded"
        except Exception as exc:
            log.exception("evaluation failed", extra={"evaluation_id": evaluation_id})
            message = exc.message if isinstance(exc, KeelError) else f"{type(exc).__name__}: {exc}"
            self._finish(evaluation_id, pb.EVALUATION_STATUS_FAILED, message)
            return f"failed: {message}"
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _finish(self, evaluation_id: str, status: pb.EvaluationStatus, message: str) -> None:
        def done(e: pb.Evaluation) -> None:
            e.status, e.status_message = status, message
            e.finished_at.CopyFrom(now_ts())

        self.store.update_evaluation(evaluation_id, done)

    def _evaluate(self, ev: pb.Evaluation, work: Path, models: RegistryModels, stub: Any) -> str:
        import torch

        from keel_training.generation_eval import evaluate_generation, qa_items, shared_similarity
        from keel_training.trainer import pick_device

        parsed = parse_jsonl(self.artifacts.get_bytes(ev.questions_uri))
        items = qa_items(parsed.examples, ev.limit)
        if not items:
            raise FailedPrecondition(
                f"{ev.dataset.dataset_id}@{ev.dataset.version} ({ev.split}) holds no questions",
                field="dataset",
            )
        device = pick_device(self.settings.device)
        if device.type == "cpu":
            torch.set_num_threads(self.settings.torch_threads or torch.get_num_threads())
        similarity = shared_similarity()
        results: list[pb.EvaluationResult] = []
        loaded: dict[str, tuple[Any, Any]] = {}
        for i, planned in enumerate(ev.results):
            base, adapter = self._target(planned.ref, models, work / f"m{i}")
            if base not in loaded:
                loaded.clear()  # one base model in memory at a time
                loaded[base] = self._load(base, device)
            model, tok = loaded[base]
            if adapter is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(adapter))
            report = evaluate_generation(
                model, tok, items, device, similarity, max_new_tokens=self.settings.eval_max_new_tokens
            )
            if adapter is not None:
                loaded[base] = (model.unload(), tok)  # the LoRA layers off again: the plain base
            result = pb.EvaluationResult(model=planned.model, ref=planned.ref, metrics=report.metrics)
            for q, ref, ans, closed in report.answers[:ANSWERS_KEPT]:
                result.answers.add(question=q, reference=ref, answer=ans, closed_book_answer=closed)
            results.append(result)
            if adapter is not None:
                self._record(stub, planned.ref, ev, report.metrics)

        def scored(e: pb.Evaluation) -> None:
            del e.results[:]
            e.results.extend(results)
            e.examples = len(items)

        self.store.update_evaluation(ev.id, scored)
        summary = ", ".join(f"{r.ref}: F1 {r.metrics.get('eval_f1', 0):.3f}" for r in results)
        if not ev.HasField("gate"):
            return f"{len(items)} questions; {summary}"
        return self._gate(ev, stub, len(items), results)

    def _target(self, ref: str, models: RegistryModels, where: Path) -> tuple[str, Path | None]:
        """(base model id, the adapter's local directory or None for the base model)."""
        if ref in self.settings.base_models:
            return ref, None
        found = models.resolve(ref)
        if found is None or not found.artifact_uri:
            raise FailedPrecondition(f"{ref} is no longer in the registry", field="models")
        return found.base_model, self.artifacts.materialize(found.artifact_uri, where, found.artifact_sha256)

    def _load(self, base: str, device: Any) -> tuple[Any, Any]:
        from keel_common.loader import load_model
        from keel_training.lora import training_dtype

        model, tok = load_model(self.tokenizers.model_dir(base), device, training_dtype(device))
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return model, tok

    def _record(self, stub: Any, ref: str, ev: pb.Evaluation, metrics: dict[str, float]) -> None:
        name, _, version = ref.rpartition("/")
        stored = {registry_key(k, ev): v for k, v in metrics.items() if k in STORED}
        stub.UpdateVersion(
            rpb.UpdateVersionRequest(model=name, version=int(version), metrics=stored), timeout=30
        )

    def _gate(self, ev: pb.Evaluation, stub: Any, examples: int, results: list[pb.EvaluationResult]) -> str:
        gate = ev.gate
        candidate, current = results
        outcome = gate_decision(gate, examples, dict(candidate.metrics), dict(current.metrics), current.ref)
        questions = f"{ev.dataset.dataset_id}@{ev.dataset.version} ({ev.split})"
        if outcome.passed and current.ref != candidate.ref:
            stub.SetAlias(
                rpb.SetAliasRequest(
                    model=gate.model,
                    alias=gate.alias,
                    version=gate.version,
                    actor=f"{ev.creator} (gate {ev.id})",
                    reason=f"{outcome.message}; questions {questions}",
                ),
                timeout=30,
            )
            outcome.promoted = True

        def gated(e: pb.Evaluation) -> None:
            e.gate_outcome.CopyFrom(outcome)

        self.store.update_evaluation(ev.id, gated)
        return outcome.message + ("; promoted" if outcome.promoted else "; the alias did not move")
