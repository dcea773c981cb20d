"""The local runner with real services: a registry killed outright comes back on the same
port with its data, the restart recorded in the state file; `keel status` shows it."""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.registry import RegistryClient
from keel_client.state import STATE_FILE, Component, PlatformState
from keel_dev.local import LocalPlatform
from keel_dev.supervisor import Event, RestartPolicy


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    """Valkey and the registry only (the gateway and the model are exercised in
    tests/integration/test_local_platform.py)."""
    policy = RestartPolicy(max_restarts=2, backoff=0.1)
    with LocalPlatform(
        tmp_path / "keel", registry_port=0, registry_http_port=0, gateway=False, restart_policy=policy
    ) as p:
        yield p


def test_a_killed_registry_comes_back_on_the_same_port_with_its_data(platform: LocalPlatform) -> None:
    target = platform.registry_target
    with RegistryClient(target) as reg:
        reg.create_model("kept", "survives a crash")
    before = platform.procs["registry"]
    events: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()
    loop = threading.Thread(target=platform.supervise, args=(events.put, stop), daemon=True)
    loop.start()
    try:
        os.kill(before.pid, signal.SIGKILL)
        kinds = [events.get(timeout=60) for _ in range(3)]
        assert [e.kind for e in kinds] == ["restarting", "restarted", "back"]
        assert kinds[0].describe() == "registry exited with -9; restarting in 0.1s (restart 1/2)"
        saved = PlatformState.load(platform.data_dir)
        assert saved is not None
        comp = saved.components["registry"]
        assert (comp.state, comp.restarts, comp.last_exit) == ("running", 1, -9)
        assert comp.pid == platform.procs["registry"].pid != before.pid and comp.grpc == target
        with RegistryClient(target) as reg:  # the same address, the same database
            assert reg.get_model("kept").description == "survives a crash"
        status = CliRunner().invoke(main, ["status", "--data-dir", str(platform.data_dir)])
        assert status.exit_code == 0, status.output
        row = next(line for line in status.output.splitlines() if line.startswith("│ registry"))
        assert "SERVING" in row and "1, last exit -9" in row and target in row
    finally:
        stop.set()
        loop.join(10)


def test_status_shows_a_component_waiting_out_its_backoff(tmp_path: Path) -> None:
    """What `keel status` reads is the state file: a component between crash and restart is
    RESTARTING (not probed), and the platform is not healthy (exit 1)."""
    state = PlatformState(str(tmp_path))
    state.components["registry"] = Component(
        "registry", grpc="127.0.0.1:1", state="restarting", restarts=3, last_exit=-9, pid=1
    )
    state.save()
    result = CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if line.startswith("│ registry"))
    assert "RESTARTING after exit -9" in row and "3, last exit -9" in row
    (tmp_path / STATE_FILE).unlink()
    result = CliRunner().invoke(main, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no local platform is running" in result.output
