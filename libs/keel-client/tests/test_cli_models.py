"""`keel models` and `keel models alias` against a real registry gRPC server on localhost (the
root conftest's ``registry_factory``): every command, errors shown once by the root group, and
where the CLI finds the registry (option, environment, the running `keel up`'s state file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.registry import KeelApiError, RegistryClient
from keel_client.state import Component, PlatformState


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
    """$KEEL_REGISTRY_ADDR, else the registry of the `keel up` running on $KEEL_DATA_DIR."""
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
    result = runner.invoke(main, ["models", "list"])
    assert result.exit_code == 0 and "found" in result.output
