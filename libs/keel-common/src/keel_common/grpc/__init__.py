"""gRPC server bootstrap and client helpers shared by Keel services."""

from keel_common.grpc.client import channel, wait_healthy
from keel_common.grpc.server import GrpcService

__all__ = ["GrpcService", "channel", "wait_healthy"]
