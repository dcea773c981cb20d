"""The ingestion service as training's ``DatasetResolver``: GetDatasetVersion over gRPC."""

from __future__ import annotations

import grpc

from keel.ingestion.v1 import ingestion_pb2 as pb
from keel.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from keel_common.errors import InvalidArgument, NotFound, Unavailable
from keel_common.protoenum import enum_name
from keel_training.core.datasets import ResolvedDataset


class IngestionDatasets:
    def __init__(self, channel: grpc.Channel, timeout_s: float = 30.0) -> None:
        self.stub = pb_grpc.IngestionServiceStub(channel)  # type: ignore[no-untyped-call]
        self.timeout_s = timeout_s

    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset:
        req = pb.GetDatasetVersionRequest(dataset_id=dataset_id, version=version, tenant=tenant)
        try:
            v = self.stub.GetDatasetVersion(req, timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                what = f"{dataset_id}@{version}" if version else f"{dataset_id} (latest ready version)"
                raise NotFound(f"no dataset version {what}: {err.details()}", field=field) from None
            raise Unavailable(f"ingestion is unavailable: {err.details()}") from None
        files = {f.split: f for f in v.files}
        if "train.jsonl" not in files and enum_name(pb.DatasetVersionStatus, v.status) == "READY":
            raise InvalidArgument(f"dataset version {dataset_id}@{v.version} has no train split", field=field)
        val = files.get("validation.jsonl")
        return ResolvedDataset(
            dataset_id=v.dataset_id,
            version=v.version,
            format=enum_name(pb.OutputFormat, v.format).lower() if v.format else "text",
            status=enum_name(pb.DatasetVersionStatus, v.status),
            train_uri=files["train.jsonl"].uri if "train.jsonl" in files else "",
            validation_uri=val.uri if val is not None and val.examples > 0 else "",
        )
