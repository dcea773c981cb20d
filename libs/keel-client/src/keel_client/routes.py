"""What a group of routes mixed into :class:`~keel_client.gateway.GatewayClient` relies on: the
client's request (``_call``) and cursor paging (``_list``), declared once for the type checker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class RoutesMixin:
    if TYPE_CHECKING:

        def _call(self, method: str, path: str, **kwargs: Any) -> Any: ...

        def _list(
            self,
            path: str,
            params: dict[str, Any],
            limit: int | None,
            page_size: int = 100,
            after: str | None = None,
        ) -> list[dict[str, Any]]: ...

    def _dict(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(method, path, **kwargs)
        return result
