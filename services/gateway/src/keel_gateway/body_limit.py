"""ASGI middleware: 413 for request bodies over the limit, whether announced by Content-Length
or streamed (a chunked body is counted as it arrives)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel_gateway.errors import ApiError

# File uploads (multipart) may be larger than API bodies.
FILE_PATHS = frozenset({"/v1/files", "/v1/documents"})


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"The request body exceeds {max_bytes} bytes.", code="request_too_large")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, max_file_bytes: int | None = None) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.file_bytes = max_file_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.file_bytes if scope.get("path") in FILE_PATHS else self.default_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send, max_bytes)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > max_bytes:
                    # FastAPI passes an HTTPException from reading the body on (anything else
                    # becomes a 400); the app's handler turns it into OpenAI's 413.
                    raise HTTPException(413, _too_large(max_bytes).message)
            return msg

        await self.app(scope, limited, send)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(_too_large(max_bytes).body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
