"""The registry through the gateway (a key with the training scope): the tenant's registered
models, their versions with metrics, params and lineage, aliases and their history, and
promotion (directly, or through the evaluation gate). Another tenant's model is a 404
(``GatewayError.code == "model_not_found"``), as a missing one is.

The mixin is part of :class:`keel_client.gateway.GatewayClient`. Inside the cluster operators
may reach the registry's gRPC API directly with :class:`keel_client.registry.RegistryClient`;
:class:`keel_client.registry.RegistryJson` gives its answers these same JSON shapes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from keel_client.routes import RoutesMixin

PRODUCTION = "production"


def _seg(value: object) -> str:
    """One path segment: a stray "/" must not route elsewhere."""
    return quote(str(value), safe="")


def _model(name: str) -> str:
    return f"/v1/registry/models/{_seg(name)}"


def _opt(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class RegistryRoutesMixin(RoutesMixin):
    """The ``/v1/registry`` routes of :class:`~keel_client.gateway.GatewayClient`."""

    # --- models and versions ------------------------------------------------------------------
    def list_registry_models(
        self, query: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The key's tenant's models by name (every page, or the first ``limit``); ``query``: a
        substring of the name."""
        return self._list("/v1/registry/models", {"query": query}, limit)

    def get_registry_model(self, name: str) -> dict[str, Any]:
        return self._dict("GET", _model(name))

    def list_model_versions(
        self,
        name: str,
        status: str | None = None,
        tag: str | None = None,
        base_model: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The model's versions, newest first, with metrics, params and lineage (every page, or
        the first ``limit``); ``status``: pending, ready, failed or archived."""
        params = {"status": status, "tag": tag, "base_model": base_model}
        return self._list(f"{_model(name)}/versions", params, limit)

    def get_model_version(self, name: str, version: int) -> dict[str, Any]:
        return self._dict("GET", f"{_model(name)}/versions/{int(version)}")

    def resolve_model(self, ref: str) -> dict[str, Any]:
        """What ``ref`` (``name``, ``name@alias``, ``name/N``) serves: ``{"resolved_via", "alias",
        "version": {...}}``."""
        return self._dict("GET", "/v1/registry/resolve", params={"ref": ref})

    # --- aliases --------------------------------------------------------------------------------
    def list_aliases(self, name: str) -> list[dict[str, Any]]:
        return list(self._dict("GET", f"{_model(name)}/aliases")["data"])

    def set_alias(self, name: str, alias: str, version: int, reason: str | None = None) -> dict[str, Any]:
        """Create ``name@alias`` or move it to a ready ``version``."""
        body = _opt(version=version, reason=reason or None)
        return self._dict("PUT", f"{_model(name)}/aliases/{_seg(alias)}", json=body)

    def delete_alias(self, name: str, alias: str, reason: str | None = None) -> dict[str, Any]:
        """Remove ``name@alias``; the answer's ``previous_version`` is where it pointed."""
        params = _opt(reason=reason or None)
        return self._dict("DELETE", f"{_model(name)}/aliases/{_seg(alias)}", params=params)

    def rollback_alias(self, name: str, alias: str, reason: str | None = None) -> dict[str, Any]:
        """Move ``name@alias`` back to where it pointed before its latest move."""
        body = _opt(reason=reason or None)
        return self._dict("POST", f"{_model(name)}/aliases/{_seg(alias)}/rollback", json=body)

    def alias_history(
        self, name: str, alias: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The moves of the model's aliases (or of ``alias``), newest first (every page, or the
        first ``limit``)."""
        return self._list(f"{_model(name)}/aliases/history", {"alias": alias or None}, limit)

    def promote(
        self,
        name: str,
        version: int,
        alias: str = PRODUCTION,
        reason: str | None = None,
        gate: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Move ``alias`` to ``version`` (ready versions only) with ``reason`` in the alias
        history; the answer says where the alias pointed before and whether it moved.

        With ``gate`` (see :func:`keel_client.evaluations.gate_of`; ``{}`` takes every default)
        nothing moves now: the answer's ``evaluation`` compares the version with what the alias
        serves, on the same questions, and moves the alias only if the version is at least as
        good. Wait for it with ``wait_evaluation(answer["evaluation"]["id"])``; its
        ``gate_outcome`` has both scores and whether the alias moved. A gated promotion takes no
        ``reason``: the alias history records the scores."""
        body = _opt(version=version, alias=alias, reason=reason or None, gate=gate)
        return self._dict("POST", f"{_model(name)}/promote", json=body)
