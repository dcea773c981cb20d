"""The local platform behind ``keel up``: an embedded Valkey and each service as a child
process on this machine, started in order, health-checked, and stopped cleanly.

State (URLs, ports, pids) goes to ``<data_dir>/platform.json`` so ``keel status`` and the
other commands find a running platform without flags.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from keel_common.errors import Unavailable
from keel_common.grpc import wait_healthy
from keel_common.redis import EmbeddedValkey

STATE_FILE = "platform.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_data_dir() -> Path:
    return Path(os.environ.get("KEEL_DATA_DIR") or Path.home() / ".keel")


def port_or_free(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free, else any free port (the caller prints which)."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


@dataclass
class Component:
    name: str
    grpc: str = ""
    http: str = ""
    url: str = ""
    pid: int = 0
    log: str = ""


@dataclass
class PlatformState:
    data_dir: str
    components: dict[str, Component] = field(default_factory=dict)

    def save(self) -> None:
        path = Path(self.data_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"data_dir": self.data_dir, "components": {k: asdict(v) for k, v in self.components.items()}},
                indent=2,
            )
        )
        tmp.replace(path)

    @classmethod
    def load(cls, data_dir: Path) -> PlatformState | None:
        path = data_dir / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(raw["data_dir"], {k: Component(**v) for k, v in raw["components"].items()})


class LocalPlatform:
    """Start with ``start()``, stop with ``stop()``; usable as a context manager."""

    def __init__(
        self,
        data_dir: Path | None = None,
        registry_port: int = 50051,
        registry_http_port: int = 8081,
        redis_url: str | None = None,
        startup_timeout: float = 60.0,
        inference: bool = False,
        inference_port: int = 50052,
        inference_http_port: int = 8082,
        inference_startup_timeout: float = 600.0,
    ) -> None:
        self.data_dir = (data_dir or default_data_dir()).resolve()
        self.registry_port = registry_port
        self.registry_http_port = registry_http_port
        self.redis_url = redis_url or os.environ.get("KEEL_REDIS_URL") or None
        self.startup_timeout = startup_timeout
        self.inference = inference
        self.inference_port = inference_port
        self.inference_http_port = inference_http_port
        self.inference_startup_timeout = inference_startup_timeout
        self.valkey: EmbeddedValkey | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.state = PlatformState(str(self.data_dir))

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def registry_target(self) -> str:
        return self.state.components["registry"].grpc

    def _spawn(self, name: str, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.data_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )
        self.procs[name] = proc
        return proc

    def _wait(
        self, name: str, target: str, proc: subprocess.Popen[bytes], timeout: float | None = None
    ) -> None:
        """Wait for SERVING, in short slices so a child that dies is reported at once."""
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while True:
            try:
                wait_healthy(target, timeout=min(1.0, max(0.1, deadline - time.monotonic())))
                return
            except Unavailable as exc:
                code = proc.poll()
                if code is None and time.monotonic() < deadline:
                    continue
                log = self.data_dir / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
                why = f"exited with code {code}" if code is not None else "did not become healthy"
                raise RuntimeError(
                    f"{name} {why}: {exc}\n--- last lines of {log} ---\n" + "\n".join(tail)
                ) from None

    def start(self) -> PlatformState:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = PlatformState.load(self.data_dir)
        if running and any(_alive(c.pid) for c in running.components.values() if c.pid):
            raise RuntimeError(
                f"a Keel platform is already running on {self.data_dir} (see `keel status`); "
                "stop it first or use another --data-dir"
            )
        try:
            if self.redis_url:
                self.state.components["redis"] = Component("redis", url=self.redis_url)
            else:
                self.valkey = EmbeddedValkey(self.data_dir / "valkey")
                self.redis_url = self.valkey.start()
                self.state.components["valkey"] = Component(
                    "valkey", url=self.redis_url, log=str(self.data_dir / "valkey" / "valkey.log")
                )
            self._start_service("registry", self.registry_port, self.registry_http_port)
            if self.inference:
                self._start_inference()
            self.state.save()
            return self.state
        except BaseException:
            self.stop()
            raise

    def _start_service(
        self,
        name: str,
        port: int,
        http_port: int,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Spawn ``keel_<name> serve`` on localhost with the platform's data dir and Redis, record
        it as a component and wait until it is SERVING."""
        grpc_port, http_port = port_or_free(port), port_or_free(http_port)
        prefix = f"KEEL_{name.upper()}_"
        proc = self._spawn(
            name,
            f"keel_{name}",
            {
                "KEEL_DATA_DIR": str(self.data_dir),
                "KEEL_REDIS_URL": self.redis_url or "",
                prefix + "HOST": "127.0.0.1",
                prefix + "GRPC_PORT": str(grpc_port),
                prefix + "HTTP_PORT": str(http_port),
                **(env or {}),
            },
        )
        target = f"127.0.0.1:{grpc_port}"
        self.state.components[name] = Component(
            name,
            grpc=target,
            http=f"http://127.0.0.1:{http_port}",
            pid=proc.pid,
            log=str(self.data_dir / "logs" / f"{name}.log"),
        )
        self._wait(name, target, proc, timeout)

    def _start_inference(self) -> None:
        """Ray in local mode with the Serve app (N=1); the model cache is shared across data dirs
        so only the first start converts the GGUF."""
        cache = os.environ.get(
            "KEEL_INFERENCE_MODEL_CACHE_DIR", str(Path.home() / ".cache" / "keel" / "models")
        )
        self._start_service(
            "inference",
            self.inference_port,
            self.inference_http_port,
            {"KEEL_INFERENCE_MODEL_CACHE_DIR": cache},
            self.inference_startup_timeout,
        )

    # Ray and Serve take longer than a plain gRPC server to drain and shut down.
    GRACE = {"inference": 60.0}

    def stop(self, grace: float = 10.0) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.GRACE.get(name, grace))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs.pop(name)
        if self.valkey is not None:
            self.valkey.stop()
            self.valkey = None
        for log in self._logs:
            log.close()
        self._logs.clear()
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)

    def wait(self) -> str | None:
        """Block until a child exits (returns its name) — ``keel up``'s main loop."""
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    return name
            time.sleep(0.5)
