"""ExportDataset over gRPC: the request → an ``ExportSpec``, the evaluation set's prompts read
from ingestion, the export built by the core, then registered in ingestion as a dataset version
(``ImportDatasetVersion``). Ingestion is reached lazily: the rest of the API works without it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc

from keel.feedback.v1 import feedback_pb2 as pb
from keel.ingestion.v1 import ingestion_pb2 as ipb
from keel.ingestion.v1 import ingestion_pb2_grpc as ipb_grpc
from keel_common.errors import InvalidArgument, NotFound, Unavailable
from keel_common.grpc.client import channel
from keel_common.protoenum import enum_value
from keel_feedback.core.exports import FORMAT, ExportSpec, eval_prompts, export
from keel_feedback.core.store import Store
from keel_feedback.protos import filter_of
from keel_feedback.records import turns

T = TypeVar("T")
_KIND = {pb.EXPORT_KIND_SFT: "sft", pb.EXPORT_KIND_DPO: "dpo", pb.EXPORT_KIND_KTO: "kto"}
_PAGE = 100  # ingestion's preview page


class Exporter:
    def __init__(self, store: Store, ingestion_target: str, timeout_s: float = 120.0) -> None:
        self.store = store
        self.target = ingestion_target
        self.timeout_s = timeout_s
        self._stub: ipb_grpc.IngestionServiceStub | None = None

    @property
    def ingestion(self) -> ipb_grpc.IngestionServiceStub:
        if self._stub is None:
            self._stub = ipb_grpc.IngestionServiceStub(channel(self.target))  # type: ignore[no-untyped-call]
        return self._stub

    @staticmethod
    def _rpc(call: Callable[[], T], field: str) -> T:
        """An ingestion call, its failure as a Keel error naming ``field``."""
        try:
            return call()
        except grpc.RpcError as err:
            code = err.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(str(err.details()), field=field) from None
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                raise InvalidArgument(str(err.details()), field=field) from None
            raise Unavailable(f"ingestion is unavailable: {err.details()}") from None

    def _eval_rows(self, ref: str, tenant: str) -> Iterator[list[tuple[str, str]]]:
        ds, _, version = ref.partition("@")
        if not ds.startswith("ds_") or not version.isdigit():
            raise InvalidArgument(f"{ref!r} is not a dataset version (ds_…@N)", field="exclude_dataset")
        for split in ("train", "validation"):
            offset = 0
            while True:
                req = ipb.PreviewDatasetVersionRequest(
                    dataset_id=ds,
                    version=int(version),
                    tenant=tenant,
                    split=split,
                    limit=_PAGE,
                    offset=offset,
                )
                resp = self._rpc(
                    lambda req=req: self.ingestion.PreviewDatasetVersion(req, timeout=self.timeout_s),  # type: ignore[misc]
                    "exclude_dataset",
                )
                examples = resp.examples
                for e in examples:
                    yield [(m.role, m.content) for m in e.messages if m.role != "assistant"]
                offset += len(examples)
                if not examples or offset >= resp.total:
                    break

    def export(self, r: pb.ExportDatasetRequest, creator: str) -> pb.ExportDatasetResponse:
        if r.kind not in _KIND:
            raise InvalidArgument("must be sft, dpo or kto", field="kind")
        f = filter_of(r.filter)
        spec = ExportSpec(
            kind=_KIND[r.kind],  # type: ignore[arg-type]
            filter=f,
            min_rating=r.min_rating if r.HasField("min_rating") else 0.5,
            min_ratings=r.min_ratings or 1,
            include_corrections=r.include_corrections if r.HasField("include_corrections") else True,
            exclude_guardrail_hits=r.exclude_guardrail_hits if r.HasField("exclude_guardrail_hits") else True,
            validation_fraction=r.validation_fraction if r.HasField("validation_fraction") else 0.1,
            seed=r.seed,
            max_examples=r.max_examples,
        )
        spec.validate()
        if not r.dry_run and not (r.dataset_id or r.dataset_name):
            raise InvalidArgument("name the dataset the export becomes a version of", field="dataset_name")
        if r.exclude_dataset:
            excluded = eval_prompts(self._eval_rows(r.exclude_dataset, f.tenant))
            spec = ExportSpec(**{**spec.__dict__, "exclude_prompts": excluded})
        done = export(self.store, spec, turns)
        out = pb.ExportDatasetResponse(
            train_examples=done.examples.get("train", 0),
            validation_examples=done.examples.get("validation", 0),
            counts_json=json.dumps(done.counts, sort_keys=True),
            model_versions=done.lineage["model_versions"],
        )
        if r.dry_run:
            return out
        req = ipb.ImportDatasetVersionRequest(
            tenant=f.tenant,
            creator=creator,
            dataset_id=r.dataset_id,
            dataset_name=r.dataset_name,
            description=f"{spec.kind} examples exported from feedback",
            format=enum_value(ipb.OutputFormat, FORMAT[spec.kind]),  # type: ignore[arg-type]
            files=[ipb.ImportedFile(split=s, content=c) for s, c in sorted(done.files.items())],
            lineage_json=json.dumps(done.lineage, sort_keys=True),
        )
        ver = self._rpc(
            lambda: self.ingestion.ImportDatasetVersion(req, timeout=self.timeout_s),
            "dataset_id" if r.dataset_id else "dataset_name",
        )
        out.dataset_id, out.dataset_version = ver.dataset_id, ver.version
        return out
