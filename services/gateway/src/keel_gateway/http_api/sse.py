"""Server-sent events as OpenAI sends them: ``data: <compact JSON>`` lines, ``data: [DONE]``
last, and an error mid-stream as one more event carrying the error envelope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi.responses import StreamingResponse

from keel_gateway.errors import ApiError


def sse_line(data: Mapping[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"data: {payload}\n\n"


async def until_error(events: AsyncIterator[str]) -> AsyncIterator[str]:
    """Pass ``events`` on; an ``ApiError`` raised by them becomes the stream's last event
    (the status line went out long ago)."""
    try:
        async for ev in events:
            yield ev
    except ApiError as err:
        yield sse_line(err.body())


def sse_response(events: AsyncIterator[str], headers: Mapping[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(
        until_error(events),
        media_type="text/event-stream",
        headers={**(headers or {}), "cache-control": "no-cache"},
    )
