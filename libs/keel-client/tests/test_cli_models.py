"""`keel models` and `keel models alias` against a real registry gRPC server on localhost (the
root conftest's ``registry_factory``): every command, errors shown once by the root group, and
where the CLI finds the registry (option, environment, the running `keel up`'s state file) or,
when none is named, that it goes through the gateway with the key."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.registry import KeelApiError, RegistryClient
from keel_client.state import Component, PlatformState
from keel_common.contract import OPERATOR_TENANT


@pytest.fixture
def target(registry_factory: Callable[..., Any]) -> str:
    return f"127.0.0.1:{registry_factory().grpc_port}"


def keel(target: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["--registry", target, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def adapter(tmp_path: Path) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 2}')
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    return folder


def test_models_commands(target: str, tmp_path: Path) -> None:
    assert "created model bot" in keel(target, "models", "create", "bot", "-d", "helps", "--tenant", "acme")
    out = keel(
        target, "models", "register", "bot", str(adapter(tmp_path)), "--base-model", "tiny",
        "-m", "eval_loss=1.5", "-p", "lora_r=2", "-t", "nightly", "--dataset", "ds_1@3", "--job", "job_7",
    )  # fmt: skip
    assert "registered bot/1 (READY), sha256 " in out
    # a plain file, under a model that does not exist yet: the model is created on the way
    single = tmp_path / "weights.bin"
    single.write_bytes(b"w")
    out = keel(target, "models", "register", "other", str(single), "--base-model", "tiny")
    assert "created model other" in out and "registered other/1 (READY)" in out

    listing = keel(target, "models", "list", "--tenant", "acme")
    assert "bot" in listing and "helps" in listing and "other" not in listing
    assert "other" in keel(target, "models", "list", "-q", "oth")
    versions = keel(target, "models", "versions", "bot")
    assert "bot/1" in versions and "ds_1@3" in versions and "job_7" in versions
    assert "eval_loss=1.5" in versions
    assert "bot/1" in keel(target, "models", "versions", "--tag", "nightly")
    assert "bot/1" not in keel(target, "models", "versions", "--status", "archived")
    show = keel(target, "models", "show", "bot/1")
    assert "ds_1 version 3" in show and "eval_loss = 1.5" in show and "lora_r = 2" in show
    assert "lineage: source" in show and "cli" in show
    assert "bot → bot/1 (via latest)" in keel(target, "models", "resolve", "bot")


def test_alias_commands(target: str, tmp_path: Path) -> None:
    for _ in range(2):
        keel(target, "models", "register", "bot", str(adapter(tmp_path / str(_))), "--base-model", "b")
    assert "bot@production → 1" in keel(target, "models", "alias", "set", "bot", "production", "1")
    keel(target, "models", "alias", "set", "bot", "production", "2", "--reason", "better")
    assert "production→2" in keel(target, "models", "list")
    assert "(via alias production)" in keel(target, "models", "resolve", "bot@production")
    assert "rolled back → 1" in keel(target, "models", "alias", "rollback", "bot", "production")
    history = keel(target, "models", "alias", "history", "bot")
    assert history.index("ROLLBACK") < history.index("better") and "SET" in history
    assert "deleted bot@production (was 1)" in keel(target, "models", "alias", "delete", "bot", "production")


def test_a_failed_call_is_one_line_and_exit_1(target: str, tmp_path: Path) -> None:
    """The root group shows every registry error the same way, never a traceback."""
    out = keel(target, "models", "alias", "set", "nope", "production", "1", code=1)
    assert out.startswith("error NOT_FOUND: ") and "Traceback" not in out
    out = keel(target, "models", "resolve", "bad/x", code=1)
    assert out.startswith("error INVALID_ARGUMENT: ref: ")
    single = tmp_path / "w.bin"
    single.write_bytes(b"w")
    out = keel(target, "models", "register", "bot", str(single), "--base-model", "b", "-m", "x=abc", code=2)
    assert "--metric" in out
    out = keel(target, "models", "register", "bot", str(single), "--base-model", "b", "-p", "novalue", code=2)
    assert "'novalue' is not key=value" in out


def test_a_field_error_names_its_field_from_the_status_details(target: str) -> None:
    """The field comes from the BadRequest field violation, not from parsing the message."""
    with RegistryClient(target) as reg, pytest.raises(KeelApiError) as caught:
        reg.resolve("m/x")
    exc = caught.value
    assert exc.code == grpc.StatusCode.INVALID_ARGUMENT and exc.field == "ref"
    assert str(exc) == f"INVALID_ARGUMENT: {exc.message}" and exc.message.startswith("ref: ")


def test_the_registry_is_found_without_flags(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$KEEL_REGISTRY_ADDR names the registry as --registry does; without either, what only the
    registry's gRPC API offers (creating a model) goes to the `keel up` running on $KEEL_DATA_DIR."""
    runner = CliRunner()
    with RegistryClient(target) as reg:
        reg.create_model("found")
    monkeypatch.setenv("KEEL_REGISTRY_ADDR", target)
    assert "found" in runner.invoke(main, ["models", "list"]).output
    monkeypatch.delenv("KEEL_REGISTRY_ADDR")
    state = PlatformState(str(tmp_path))
    state.components["registry"] = Component("registry", grpc=target)
    state.save()
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path))
    result = runner.invoke(main, ["models", "create", "made-here"])
    assert result.exit_code == 0 and "created model made-here" in result.output
    with RegistryClient(target) as reg:
        # owned by the operator's tenant unless --tenant says otherwise: `keel up`'s key sees it
        assert reg.get_model("made-here").tenant == OPERATOR_TENANT


MODEL = {
    "object": "registry.model", "id": "bot", "name": "bot", "owned_by": "acme", "description": "helps",
    "latest_version": 2, "aliases": {"production": 2}, "created_by": "key:k1",
    "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
}  # fmt: skip


class Gateway(BaseHTTPRequestHandler):
    """Plays the gateway's /v1/registry/models for the acme key; remembers what it was asked."""

    seen: list[tuple[str, str]] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("authorization", "")))
        ok = self.path.startswith("/v1/registry/models?")
        page = {"object": "list", "data": [MODEL], "has_more": False, "first_id": "bot", "last_id": "bot"}
        raw = json.dumps(page if ok else {"error": {"message": "nope", "code": "not_found"}}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def test_without_a_named_registry_models_go_through_the_gateway_with_the_key(
    http_server: Callable[[type[BaseHTTPRequestHandler]], str],
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real gateway answers these commands in services/gateway/tests/test_http_registry.py;
    here: which way the CLI goes, with which key, and what only --registry can do."""
    monkeypatch.delenv("KEEL_REGISTRY_ADDR", raising=False)
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path))  # no `keel up` there
    monkeypatch.setenv("KEEL_GATEWAY_URL", http_server(Gateway))
    monkeypatch.setenv("KEEL_API_KEY", "sk-keel-k1.secret")
    runner = CliRunner()
    Gateway.seen.clear()
    out = runner.invoke(main, ["models", "list", "-q", "bo"])
    assert out.exit_code == 0, out.output
    assert "bot" in out.output and "production→2" in out.output and "acme" in out.output
    path, auth = Gateway.seen[-1]
    assert path.startswith("/v1/registry/models?query=bo") and auth == "Bearer sk-keel-k1.secret"
    out = runner.invoke(main, ["models", "list", "--tenant", "globex"])
    assert out.exit_code == 2 and "--tenant needs --registry" in out.output
    out = runner.invoke(main, ["models", "versions"])
    assert out.exit_code == 2 and "NAME is required through the gateway" in out.output
    out = runner.invoke(main, ["models", "show", "bot@nope"])
    assert out.exit_code == 1 and out.output.startswith("error: nope")
    # the option names the registry: gRPC, every tenant, no key asked for
    seen = len(Gateway.seen)
    with RegistryClient(target) as reg:
        reg.create_model("ops-only", tenant="globex")
    out = runner.invoke(main, ["--registry", target, "models", "list", "--tenant", "globex"])
    assert out.exit_code == 0 and "ops-only" in out.output and len(Gateway.seen) == seen
