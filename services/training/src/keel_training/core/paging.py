"""Paging over Redis listings that a filter thins out."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from keel_common.paging import encode_token

T = TypeVar("T")


def filtered_page(
    fetch: Callable[[str, int], tuple[list[T], bool]], keep: Callable[[T], bool], limit: int, after: str
) -> tuple[list[T], str]:
    """Up to ``limit`` kept items, reading on past pages the filter emptied."""
    out: list[T] = []
    while True:
        items, more = fetch(after, limit)
        for i, item in enumerate(items):
            if keep(item):
                out.append(item)
                if len(out) == limit:
                    last = item.id  # type: ignore[attr-defined]
                    return out, encode_token({"after": last}) if more or i < len(items) - 1 else ""
        if not more or not items:
            return out, ""
        after = items[-1].id  # type: ignore[attr-defined]
