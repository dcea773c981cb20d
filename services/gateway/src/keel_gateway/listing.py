"""OpenAI's list shape and its ``limit`` rule, shared by every resource that pages."""

from __future__ import annotations

from typing import Any

from keel_gateway.errors import ApiError


def page(data: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def limit_of(limit: int | None, default: int = 20) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= 100:
        raise ApiError(400, "limit must be between 1 and 100.", param="limit", code="invalid_value")
    return limit
