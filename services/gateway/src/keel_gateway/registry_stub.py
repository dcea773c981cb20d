"""The registry's RPCs as the gateway's registry routes call them, typed: the generated gRPC stub
is untyped. ``RegistryServiceStub(channel)`` satisfies this."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from keel.registry.v1 import registry_pb2 as pb

Metadata = Sequence[tuple[str, str]]


class RegistryStub(Protocol):
    def GetModel(self, request: pb.GetModelRequest, *, timeout: float) -> Awaitable[pb.Model]: ...
    def ListModels(
        self, request: pb.ListModelsRequest, *, timeout: float
    ) -> Awaitable[pb.ListModelsResponse]: ...
    def GetVersion(self, request: pb.GetVersionRequest, *, timeout: float) -> Awaitable[pb.ModelVersion]: ...
    def ListVersions(
        self, request: pb.ListVersionsRequest, *, timeout: float
    ) -> Awaitable[pb.ListVersionsResponse]: ...
    def ListAliases(
        self, request: pb.ListAliasesRequest, *, timeout: float
    ) -> Awaitable[pb.ListAliasesResponse]: ...
    def SetAlias(
        self, request: pb.SetAliasRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Alias]: ...
    def DeleteAlias(
        self, request: pb.DeleteAliasRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.DeleteAliasResponse]: ...
    def RollbackAlias(
        self, request: pb.RollbackAliasRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Alias]: ...
    def GetAliasHistory(
        self, request: pb.GetAliasHistoryRequest, *, timeout: float
    ) -> Awaitable[pb.GetAliasHistoryResponse]: ...
    def Resolve(self, request: pb.ResolveRequest, *, timeout: float) -> Awaitable[pb.ResolveResponse]: ...
