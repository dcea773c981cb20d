"""Dataset versions from ingestion as training data: ``ds_…@N`` resolves to the version's JSONL
files, its train and validation splits: chat rows (OpenAI's chat format) for SFT, preference
pairs (OpenAI's preference shape) for DPO. The resolver is a protocol so the core stays
transport-free; ``keel_training.ingestion_client`` implements it over gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from keel_common.errors import FailedPrecondition, InvalidArgument
from keel_training.validation import KTO_REFUSAL, PREFERENCE

# Formats whose rows are chat examples (built from documents, or imported).
CHAT_FORMATS = ("chat", "qa_with_context", "qa_closed_book")


@dataclass(frozen=True)
class ResolvedDataset:
    dataset_id: str
    version: int  # pinned: "latest" resolved at CreateJob, so the job is reproducible
    format: str  # text | qa_with_context | qa_closed_book | chat | preference | kto
    status: str
    train_uri: str
    validation_uri: str  # "" when the validation split is empty


class DatasetResolver(Protocol):
    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset: ...


class NoDatasets:
    """When no ingestion service is configured."""

    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset:
        raise InvalidArgument("datasets need the ingestion service, which is not configured", field=field)


def usable(ds: ResolvedDataset, field: str, kind: str = "chat") -> ResolvedDataset:
    """A READY version whose rows the job's method trains on (``kind``: "chat" for SFT,
    "preference" for DPO); text datasets are for continued pre-training."""
    ref = f"{ds.dataset_id}@{ds.version}"
    if ds.status != "READY":
        raise FailedPrecondition(f"dataset version {ref} is {ds.status}, not READY", field=field)
    if ds.format == "text":
        raise InvalidArgument(
            f"dataset version {ref} holds text chunks (continued pre-training), not chat examples; "
            "build a qa_with_context or qa_closed_book version",
            field=field,
        )
    if ds.format == "kto":
        raise InvalidArgument(f"dataset version {ref} holds KTO examples: {KTO_REFUSAL}", field=field)
    if kind == PREFERENCE and ds.format != PREFERENCE:
        raise InvalidArgument(
            f"dataset version {ref} holds {ds.format} examples, not preference pairs; "
            "DPO trains on a preference dataset",
            field=field,
        )
    if kind != PREFERENCE and ds.format == PREFERENCE:
        raise InvalidArgument(
            f"dataset version {ref} holds preference pairs; train on it with method dpo", field=field
        )
    if kind != PREFERENCE and ds.format not in CHAT_FORMATS:
        raise InvalidArgument(
            f"dataset version {ref} has format {ds.format!r}, which SFT cannot use", field=field
        )
    return ds
