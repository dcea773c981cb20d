"""Fine-tuned models as a job's starting point: a request whose ``base_model`` is not a
fine-tunable base model may name a fine-tuned model of its tenant ("ft:…" or a registry ref
"name/N", "name@alias", "name"); the worker merges that model's adapter into the base weights
and trains on top. The resolver is a protocol so the core stays transport-free;
``keel_training.registry_client`` implements it over the registry's gRPC API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import InvalidArgument


@dataclass(frozen=True)
class ResolvedModel:
    ref: str  # "name/N"
    base_model: str
    artifact_uri: str
    artifact_sha256: str
    tenant: str  # the registry model's owner
    ready: bool
    # Lineage: the dataset version it was trained on ("" / 0 when none).
    dataset_id: str = ""
    dataset_version: int = 0


class ModelResolver(Protocol):
    def resolve(self, model: str) -> ResolvedModel | None:
        """The registry version ``model`` names; None when there is none."""
        ...


class NoModels:
    """When no registry is configured: only base models can be fine-tuned."""

    def resolve(self, model: str) -> ResolvedModel | None:
        return None


def starting_adapter(
    resolver: ModelResolver, model: str, tenant: str, base_models: Iterable[str]
) -> tuple[str, pb.StartingAdapter]:
    """(the base model under ``model``, the adapter to start from), or InvalidArgument about
    ``model``; another tenant's model looks unknown."""
    bases = sorted(base_models)
    found = resolver.resolve(model) if model else None
    if found is None or found.tenant != tenant:
        raise InvalidArgument(
            f"unknown base model {model!r}; fine-tunable: {', '.join(bases)}, or a fine-tuned model of yours",
            field="model",
        )
    if not found.ready or not found.artifact_uri:
        raise InvalidArgument(f"{model} ({found.ref}) is not a READY adapter", field="model")
    if found.base_model not in bases:
        raise InvalidArgument(
            f"{model} is built on {found.base_model!r}, which is not fine-tunable here", field="model"
        )
    return found.base_model, pb.StartingAdapter(
        model=model, ref=found.ref, artifact_uri=found.artifact_uri, artifact_sha256=found.artifact_sha256
    )
