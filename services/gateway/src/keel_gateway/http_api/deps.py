"""What routes ask FastAPI for: the running core objects (from ``app.state``) and the caller's
API key, authenticated and checked for a scope: ``key: ApiKey = Depends(require("inference"))``,
spelt ``key: InferenceKey`` (FastAPI's ``Annotated`` form, so the default stays free)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from keel_gateway.core import Gateway
from keel_gateway.evaluations import Evaluations
from keel_gateway.feedback import Feedback
from keel_gateway.finetuning import FineTuning
from keel_gateway.ingestion import Ingestion
from keel_gateway.keys import ApiKey
from keel_gateway.registry import Registry
from keel_gateway.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# The dependencies are coroutines: FastAPI runs a plain function dependency in its thread pool,
# a hop per dependency per request that the gateway's profile showed as a third of a cheap route.
async def runtime(request: Request) -> Runtime:
    return _runtime(request)


async def gateway(request: Request) -> Gateway:
    return _runtime(request).gateway


async def finetuning(request: Request) -> FineTuning:
    return _runtime(request).finetuning


async def ingestion(request: Request) -> Ingestion:
    return _runtime(request).ingestion


async def feedback(request: Request) -> Feedback:
    return _runtime(request).feedback


async def registry(request: Request) -> Registry:
    return _runtime(request).registry


async def evaluations(request: Request) -> Evaluations:
    return _runtime(request).evaluations


def require(*scopes: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that returns the caller's key when it is valid and has one of ``scopes``
    (401 / 403 in OpenAI's envelope otherwise)."""

    async def authenticated(request: Request, authorization: str | None = Header(None)) -> ApiKey:
        return await _runtime(request).gateway.authenticate(authorization, scopes)

    authenticated.__name__ = f"require_{'_or_'.join(scopes)}"
    return authenticated


def actor(key: ApiKey) -> str:
    """How services record a gateway caller in their audit trails."""
    return f"key:{key.id}"


InferenceKey = Annotated[ApiKey, Depends(require("inference"))]
TrainingKey = Annotated[ApiKey, Depends(require("training"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
# The application that got an answer rates it; so may an annotator holding a training key.
RaterKey = Annotated[ApiKey, Depends(require("inference", "training"))]
GatewayDep = Annotated[Gateway, Depends(gateway)]
FineTuningDep = Annotated[FineTuning, Depends(finetuning)]
IngestionDep = Annotated[Ingestion, Depends(ingestion)]
FeedbackDep = Annotated[Feedback, Depends(feedback)]
RegistryDep = Annotated[Registry, Depends(registry)]
EvaluationsDep = Annotated[Evaluations, Depends(evaluations)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
