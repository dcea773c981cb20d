from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from keel_common import paging
from keel_common.errors import InvalidArgument
from keel_common.logging import configure_logging, request_id_var
from keel_common.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = ServiceSettings.model_config | {"env_prefix": "KEEL_DEMO_"}


def test_common_fields_use_keel_prefix_service_fields_their_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("KEEL_REDIS_URL", "redis://example:6380/0")
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KEEL_DEMO_GRPC_PORT", "6000")
    monkeypatch.setenv("KEEL_GRPC_PORT", "7000")  # not a demo setting: ignored
    s = DemoSettings()
    assert s.redis_url == "redis://example:6380/0" and s.grpc_port == 6000 and s.data_dir == tmp_path
    assert s.resolved_artifact_root() == str(tmp_path / "artifacts")


def test_bad_and_placeholder_values_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DEMO_GRPC_PORT", "99999")
    with pytest.raises(ValidationError, match="grpc_port"):
        DemoSettings()
    monkeypatch.delenv("KEEL_DEMO_GRPC_PORT")
    monkeypatch.setenv("KEEL_REDIS_URL", "redis://:CHANGEME@redis:6379")
    with pytest.raises(ValidationError, match="placeholder"):
        DemoSettings()


def test_json_logs_carry_severity_service_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging("demo", "INFO")
    token = request_id_var.set("req_123")
    try:
        logging.getLogger("x").info("hello", extra={"model": "m"})
    finally:
        request_id_var.reset(token)
        root.handlers[:], root.level = before  # the handler wrote to pytest's captured stdout
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["severity"] == "INFO" and line["service"] == "demo" and line["request_id"] == "req_123"
    assert line["message"] == "hello" and line["model"] == "m"


def test_page_tokens_roundtrip_and_reject_garbage() -> None:
    assert paging.decode_token(paging.encode_token({"after": "m-3"})) == {"after": "m-3"}
    assert paging.decode_token("") == {}
    for bad in ("%%", "bm90IGpzb24", "WzFd"):  # not base64 json; "not json"; "[1]" is no object
        with pytest.raises(InvalidArgument) as info:
            paging.decode_token(bad)
        assert info.value.field == "page_token"
    assert (
        paging.page_size(0) == paging.DEFAULT_PAGE_SIZE and paging.page_size(10_000) == paging.MAX_PAGE_SIZE
    )
