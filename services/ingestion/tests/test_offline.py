"""Ingestion runs fully offline: extracting every format (trafilatura, pypdf, python-docx,
markdown-it), loading the base model's tokenizer and building a dataset open no connection to
anything but this machine. A Python audit hook sees every socket connect and name lookup."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from keel_ingestion import testing
from keel_ingestion.core.extract import detect_type, extract
from keel_ingestion.core.recipe import Recipe
from keel_ingestion.core.tokens import HFTokenCounter

_SEEN: list[tuple[str, Any]] = []
_WATCHING = [False]


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING[0] and event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        _SEEN.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_hook)  # hooks cannot be removed; _WATCHING scopes this one to the test


def _local(target: Any) -> bool:
    host = target[0] if isinstance(target, tuple) else target
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host in ("localhost", ""):
        return True
    if host.startswith("/"):  # a Unix socket
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the network is the point here, and PostgreSQL is reached over loopback."""
    return f"sqlite:///{tmp_path / 'ingestion.db'}"


@pytest.fixture
def watch() -> Any:
    _SEEN.clear()
    _WATCHING[0] = True
    yield _SEEN
    _WATCHING[0] = False


def test_no_outbound_connection_from_extraction_tokenizer_or_build(
    watch: list[tuple[str, Any]], smollm2_dir: Path, core: SimpleNamespace
) -> None:
    docs = {
        "manual.pdf": testing.multi_page_pdf(["Valve V1 opens at 8 bar.", "Seal S2 lasts 500 hours."]),
        "wiki.html": testing.html_page(["Keel turns documents into datasets without a network."]),
        "notes.md": b"# Notes\n\nThe pump is serviced every spring.\n\n```\ncode block\n```\n",
        "faq.txt": b"Question time. The answer is in the manual.",
        "spec.docx": testing.docx_bytes([("h1", "Spec"), ("p", "Torque 12 Nm."), ("table", [["a", "b"]])]),
    }
    for name, data in docs.items():
        extract(data, detect_type(name, data[:16384]))
    HFTokenCounter.from_dir(smollm2_dir).count("tokenize offline")
    ids = [core.documents.upload("acme", name, data)[0].id for name, data in docs.items()]
    op = core.datasets.create("acme", "offline", Recipe(chunk_tokens=64), ids)
    core.queue.drain()
    assert core.datasets.operation(op.id).status == "SUCCEEDED"
    outbound = [(event, target) for event, target in watch if not _local(target)]
    assert outbound == [], outbound


def test_the_hook_sees_a_lookup_and_a_connect(watch: list[tuple[str, Any]]) -> None:
    """The check above could not pass by seeing nothing: a lookup and a connect are recorded."""
    import socket

    with pytest.raises(OSError):
        socket.getaddrinfo("keel-offline-check.invalid", 443)
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(0.01)
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed
    assert [e for e, _ in watch] == ["socket.getaddrinfo", "socket.connect"]
    assert [t for _, t in watch if not _local(t)] == ["keel-offline-check.invalid", ("192.0.2.1", 9)]
