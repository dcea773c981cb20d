"""Dataset versions from ingestion as training data: ``ds_…@N`` resolves to the version's JSONL
files (OpenAI's chat format), its train and validation splits. The resolver is a protocol so the
core stays transport-free; ``keel_training.ingestion_client`` implements it over gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from keel_common.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class ResolvedDataset:
    dataset_id: str
    version: int  # pinned: "latest" resolved at CreateJob, so the job is reproducible
    format: str  # text | qa_with_context | qa_closed_book
    status: str
    train_uri: str
    validation_uri: str  # "" when the validation split is empty


class DatasetResolver(Protocol):
    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset: ...


class NoDatasets:
    """When no ingestion service is configured."""

    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset:
        raise InvalidArgument("datasets need the ingestion service, which is not configured", field=field)


def usable(ds: ResolvedDataset, field: str) -> ResolvedDataset:
    """A READY chat-format version; text datasets are for continued pre-training."""
    ref = f"{ds.dataset_id}@{ds.version}"
    if ds.status != "READY":
        raise FailedPrecondition(f"dataset version {ref} is {ds.status}, not READY", field=field)
    if ds.format == "text":
        raise InvalidArgument(
            f"dataset version {ref} holds text chunks (continued pre-training), not chat examples; "
            "build a qa_with_context or qa_closed_book version",
            field=field,
        )
    return ds
