"""The HTTP transport: one router per resource over ``core.Gateway``, ``FineTuning``,
``Ingestion``, ``Feedback``, ``Registry`` and ``Evaluations``.

To add a resource: write ``http_api/<resource>.py`` with an ``APIRouter`` whose routes take
``key: ApiKey = Depends(require("<scope>"))``, and add its router to ``ROUTERS``."""

from __future__ import annotations

from fastapi import APIRouter

from keel_gateway.http_api import (
    admin_keys,
    chat,
    datasets,
    documents,
    evaluations,
    feedback,
    files,
    fine_tuning,
    models,
    ops,
    registry,
)

ROUTERS: tuple[APIRouter, ...] = (
    chat.router,
    models.router,
    files.router,
    fine_tuning.router,
    documents.router,
    datasets.router,
    feedback.router,
    registry.router,
    evaluations.router,
    admin_keys.router,
    ops.router,
)
