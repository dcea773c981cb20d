"""Reading Keel's call metadata on the server side."""

from __future__ import annotations

import grpc

from keel_common.contract import ACTOR_HEADER

ANONYMOUS = "anonymous"


def actor(given: str, context: grpc.ServicerContext) -> str:
    """Who did it: the request's own field when set, else the actor header the gateway and the
    CLI send, else ``anonymous`` (audit trails never record an empty actor)."""
    if given:
        return given
    return str(dict(context.invocation_metadata() or ()).get(ACTOR_HEADER, "")) or ANONYMOUS
