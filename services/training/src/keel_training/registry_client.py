"""The registry as training's ``ModelResolver``: a fine-tuned model's id ("ft:…", the tag its
job put on the version) or a registry ref to its version, and the model's owner."""

from __future__ import annotations

import grpc

from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rpb_grpc
from keel_common.errors import Unavailable
from keel_training.core.models import ResolvedModel


class RegistryModels:
    def __init__(self, channel: grpc.Channel, timeout_s: float = 30.0) -> None:
        self.stub = rpb_grpc.RegistryServiceStub(channel)  # type: ignore[no-untyped-call]
        self.timeout_s = timeout_s

    def resolve(self, model: str) -> ResolvedModel | None:
        try:
            if model.startswith("ft:"):
                found = self.stub.ListVersions(
                    rpb.ListVersionsRequest(tag=model, page_size=1), timeout=self.timeout_s
                )
                if not found.versions:
                    return None
                version = found.versions[0]
            else:
                version = self.stub.Resolve(rpb.ResolveRequest(ref=model), timeout=self.timeout_s).version
            owner = self.stub.GetModel(rpb.GetModelRequest(name=version.model), timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable(f"the registry is unavailable: {err.details()}") from None
        return ResolvedModel(
            ref=f"{version.model}/{version.version}",
            base_model=version.base_model,
            artifact_uri=version.artifact_uri,
            artifact_sha256=version.artifact_sha256,
            tenant=owner.tenant,
            ready=version.status == rpb.VERSION_STATUS_READY,
            dataset_id=version.lineage.dataset_id,
            dataset_version=int(version.lineage.dataset_version)
            if version.lineage.dataset_version.isdigit()
            else 0,
        )
