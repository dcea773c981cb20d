"""The gateway's FastAPI app, assembled: the runtime started by the lifespan, the routers of
``http_api``, the error handlers and the body limit. Routes live in ``http_api/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from keel_gateway.body_limit import BodyLimit
from keel_gateway.config import GatewaySettings
from keel_gateway.guardrails.policy import Policy
from keel_gateway.guardrails.semantic import Embedder
from keel_gateway.http_api import ROUTERS, errors
from keel_gateway.runtime import running


def create_app(settings: GatewaySettings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """``embedder``: tests may pass one to share it across apps (it is left open)."""
    settings = settings or GatewaySettings()
    policy = Policy.load(settings.policy_path)  # a bad policy fails here, before serving
    settings.pepper_bytes()  # and so does a missing pepper

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, policy, embedder) as rt:
            app.state.runtime = rt
            yield

    app = FastAPI(
        title="Keel gateway",
        version="0.1.0",
        description="OpenAI-compatible API with API keys, tenants, rate limits and guardrails.",
        lifespan=lifespan,
    )
    errors.register(app)
    for router in ROUTERS:
        app.include_router(router)
    return BodyLimit(app, settings.max_body_bytes, settings.max_file_bytes)  # type: ignore[return-value]


def app_from_env() -> FastAPI:
    """uvicorn factory (one per worker process)."""
    return create_app()
