"""Opaque page tokens and page-size clamping shared by every List RPC."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from keel_common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgument(f"must not be negative, got {requested}", field=field)
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> dict[str, Any]:
    if not token:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("is not a token returned by a previous page", field=field) from exc
    if not isinstance(value, dict):
        raise InvalidArgument("is not a token returned by a previous page", field=field)
    return value
