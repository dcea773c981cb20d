"""Where the CLI sends its calls: the registry's gRPC address and the gateway's URL and API key,
from the options, else the environment, else the running ``keel up`` (its state file), else the
default ports. ``keel models`` goes through the gateway with the key unless the registry is
named (``--registry`` or ``$KEEL_REGISTRY_ADDR``: an operator inside the cluster)."""

from __future__ import annotations

import os
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from keel_client.gateway import DEFAULT_URL, GatewayClient
from keel_client.registry import DEFAULT_TARGET, RegistryClient, RegistryJson
from keel_client.state import PlatformState, admin_key_path, default_data_dir, read_secret

F = TypeVar("F", bound=Callable[..., Any])


def registry_target(explicit: str | None) -> str:
    """--registry, else $KEEL_REGISTRY_ADDR, else the running `keel up`, else the default port."""
    if explicit:  # the --registry option, which also reads $KEEL_REGISTRY_ADDR
        return explicit
    state = PlatformState.load(default_data_dir())
    if state and "registry" in state.components:
        return state.components["registry"].grpc
    return DEFAULT_TARGET


def named_registry(ctx: click.Context) -> str | None:
    """The registry the command line or the environment names (``--registry``, which also reads
    ``$KEEL_REGISTRY_ADDR``), if any."""
    registry: str | None = (ctx.find_root().obj or {}).get("registry")
    return registry or None


def client_of(ctx: click.Context) -> RegistryClient:
    """The registry's gRPC API: what only it offers (creating models, uploading artifacts)."""
    return RegistryClient(registry_target(named_registry(ctx)), actor=os.environ.get("USER", ""))


Registry = RegistryJson | GatewayClient


def registry_of(ctx: click.Context, url: str | None, key: str | None) -> Registry:
    """Where the registry's trainer operations go: straight to the registry's gRPC API when one
    is named (an operator inside the cluster: every tenant, no key), else through the gateway
    with the API key (the key's tenant's models, its scopes)."""
    named = named_registry(ctx)
    if named:
        return RegistryJson(RegistryClient(named, actor=os.environ.get("USER", "")))
    return gateway_client(url, key)


def gateway_url(explicit: str | None) -> str:
    """--gateway-url, else $KEEL_GATEWAY_URL, else the running `keel up`, else the default port."""
    if explicit:  # the option, which also reads $KEEL_GATEWAY_URL
        return explicit
    state = PlatformState.load(default_data_dir())
    if state and "gateway" in state.components:
        return state.components["gateway"].http
    return DEFAULT_URL


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(explicit: str | None, url: str) -> str:
    """--api-key, else $KEEL_API_KEY, else the admin key `keel up` saved, which is only ever sent
    to a gateway on this machine."""
    if explicit:
        return explicit
    path = admin_key_path(default_data_dir())
    saved = read_secret(path)
    if saved and _loopback(url):
        return saved
    hint = f" (`keel up` saves an admin key in {path} for a gateway on this machine)"
    raise click.UsageError("no API key: pass --api-key or set KEEL_API_KEY" + hint)


def gateway_options(fn: F) -> F:
    fn = click.option(
        "--api-key",
        envvar="KEEL_API_KEY",
        default=None,
        help="gateway API key [env KEEL_API_KEY; default: the admin key of the local `keel up`]",
    )(fn)
    return click.option(
        "--gateway-url",
        envvar="KEEL_GATEWAY_URL",
        default=None,
        help=f"gateway root URL [env KEEL_GATEWAY_URL; default: the local `keel up`'s, else {DEFAULT_URL}]",
    )(fn)


def gateway_client(url: str | None, key: str | None) -> GatewayClient:
    resolved = gateway_url(url)
    return GatewayClient(resolved, api_key(key, resolved))
