"""`keel up` / `keel status` / `keel models ...` against real processes on this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keel_client.adapters import BaseShape, write_lora_adapter
from keel_client.cli import component_health, main
from keel_client.local import STATE_FILE, LocalPlatform, PlatformState

KEEL = str(Path(sys.executable).with_name("keel"))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; look at its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def keel_up(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`keel up` as a user runs it, with its own embedded Valkey (inference only where a test
    asks for it: Ray and the model add ~40 s)."""
    extra = extra or ("--no-inference",)
    env = {**os.environ, "KEEL_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("KEEL_REDIS_URL", None)
    proc = subprocess.Popen(
        [KEEL, "up", "--registry-port", "0", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, env


def test_keel_up_status_and_clean_ctrl_c(tmp_path: Path) -> None:
    proc, env = keel_up(tmp_path)
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until `keel up` prints that everything is healthy
            seen.append(line)
            if "press Ctrl-C" in line:
                break
        else:
            pytest.fail("keel up ended early:\n" + "".join(seen))
        out = "".join(seen)
        assert "registry" in out and "valkey" in out and "SERVING" in out
        state = PlatformState.load(tmp_path)
        assert state is not None
        registry_pid = state.components["registry"].pid
        assert pid_alive(registry_pid)
        status = subprocess.run([KEEL, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("SERVING") == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        rest = proc.stdout.read()
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not pid_alive(registry_pid)
    assert not (tmp_path / STATE_FILE).exists()
    after = subprocess.run([KEEL, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert after.returncode == 1 and "no local platform" in after.stderr


def test_platform_reports_a_component_that_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = LocalPlatform(tmp_path, registry_port=0, registry_http_port=0, startup_timeout=20)
    bad_db = tmp_path / "not-a-dir"
    bad_db.write_text("file where a directory should be")
    monkeypatch.setenv("KEEL_REGISTRY_DATABASE_URL", f"sqlite:///{bad_db}/registry.db")
    with pytest.raises(RuntimeError, match="registry exited with code"):
        platform.start()
    assert platform.procs == {} and platform.valkey is None


@pytest.fixture
def platform(tmp_path: Path):
    with LocalPlatform(tmp_path / "keel", registry_port=0, registry_http_port=0) as p:
        yield p


def test_cli_models_commands(platform: LocalPlatform, tmp_path: Path) -> None:
    runner = CliRunner()

    def keel(*args: str, ok: bool = True) -> str:
        result = runner.invoke(main, ["--registry", platform.registry_target, *args], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    adapter = write_lora_adapter(tmp_path / "ad", BaseShape("tiny", 16, 2, 4, 2), rank=2)
    assert "created model support-bot" in keel("models", "create", "support-bot", "-d", "helps")
    out = keel(
        "models",
        "register",
        "support-bot",
        str(adapter),
        "--base-model",
        "tiny",
        "-m",
        "eval_loss=1.25",
        "-t",
        "nightly",
        "--dataset",
        "ds_1@2",
        "--job",
        "job_9",
    )
    assert "registered support-bot/1 (READY)" in out
    keel("models", "register", "support-bot", str(adapter / "adapter_config.json"), "--base-model", "tiny")
    assert "support-bot@production → 1" in keel("models", "alias", "set", "support-bot", "production", "1")
    keel("models", "alias", "set", "support-bot", "production", "2")
    listing = keel("models", "list")
    assert "support-bot" in listing and "production→2" in listing
    versions = keel("models", "versions", "support-bot")
    assert "support-bot/2" in versions and "support-bot/1" in versions and "ds_1@2" in versions
    assert "support-bot/1" in keel("models", "versions", "--tag", "nightly")
    show = keel("models", "show", "support-bot/1")
    assert "job_9" in show and "ds_1 version 2" in show and "eval_loss = 1.25" in show
    assert "support-bot → support-bot/2 (via alias production)" in keel("models", "resolve", "support-bot")
    assert "rolled back → 1" in keel("models", "alias", "rollback", "support-bot", "production")
    history = keel("models", "alias", "history", "support-bot")
    assert history.index("ROLLBACK") < history.index("SET")
    assert "deleted support-bot@production (was 1)" in keel(
        "models", "alias", "delete", "support-bot", "production"
    )
    # registering under a name that does not exist yet creates the model
    out = keel("models", "register", "new-bot", str(adapter), "--base-model", "tiny")
    assert "created model new-bot" in out and "registered new-bot/1 (READY)" in out
    err = keel("models", "alias", "set", "support-bot", "production", "7", ok=False)
    assert "NOT_FOUND" in err and "version" in err
    err = keel(
        "models", "register", "support-bot", str(adapter), "--base-model", "tiny", "-m", "loss=abc", ok=False
    )
    assert "--metric" in err


def test_second_platform_on_the_same_data_dir_is_refused(platform: LocalPlatform) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        LocalPlatform(platform.data_dir, registry_port=0, registry_http_port=0).start()
    assert (platform.data_dir / STATE_FILE).exists()  # the running one is untouched


def test_keel_up_stops_on_sigterm_and_reports_a_crashed_component(tmp_path: Path) -> None:
    for how in ("sigterm", "crash"):
        proc, _ = keel_up(tmp_path)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "press Ctrl-C" in line:
                break
        state = PlatformState.load(tmp_path)
        assert state is not None
        registry_pid = state.components["registry"].pid
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        else:
            os.kill(registry_pid, signal.SIGKILL)
            assert proc.wait(60) == 1
            assert "registry exited unexpectedly" in proc.stdout.read()
        assert not pid_alive(registry_pid)
        assert not (tmp_path / STATE_FILE).exists()


def test_registry_process_drains_and_releases_everything_on_sigterm(tmp_path: Path) -> None:
    from keel_client.local import port_or_free
    from keel_common.grpc import wait_healthy

    grpc_port, http_port = port_or_free(0), port_or_free(0)
    env = {
        **os.environ,
        "KEEL_DATA_DIR": str(tmp_path),
        "KEEL_REGISTRY_GRPC_PORT": str(grpc_port),
        "KEEL_REGISTRY_HTTP_PORT": str(http_port),
    }
    env.pop("KEEL_REDIS_URL", None)  # the service starts its own embedded Valkey
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel_registry", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"127.0.0.1:{grpc_port}", timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    messages = [json.loads(line)["message"] for line in out.splitlines() if line.startswith("{")]
    assert (
        messages.index("shutting down")
        < messages.index("embedded valkey stopped")
        < messages.index("stopped")
    )


def test_local_platform_serves_inference(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keel up`'s platform with inference: its own Ray (local mode, N=1), the shipped model, gRPC."""
    import grpc

    from keel.common.v1 import common_pb2 as cpb
    from keel.inference.v1 import inference_pb2 as ipb
    from keel.inference.v1 import inference_pb2_grpc as ipb_grpc

    monkeypatch.setenv("KEEL_INFERENCE_MODEL_CACHE_DIR", str(model_cache))
    with LocalPlatform(
        tmp_path / "keel", registry_port=0, registry_http_port=0, inference=True, inference_port=0,
        inference_http_port=0,
    ) as platform:  # fmt: skip
        comp = platform.state.components["inference"]
        assert component_health(comp)[0] == "SERVING"
        with grpc.insecure_channel(comp.grpc) as ch:
            stub = ipb_grpc.InferenceServiceStub(ch)
            reply = stub.Generate(
                ipb.GenerateRequest(
                    messages=ipb.ChatMessages(messages=[cpb.ChatMessage(role="user", content="Say hello.")]),
                    sampling=cpb.SamplingParams(max_tokens=8),
                )
            )
            assert reply.text and reply.usage.completion_tokens >= 1
            assert stub.ListModels(ipb.ListModelsRequest()).models[0].ready
        proc = platform.procs["inference"]
    assert proc.returncode == 0  # drained and stopped on SIGTERM
