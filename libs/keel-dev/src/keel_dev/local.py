"""The local platform behind ``keel up``: an embedded Valkey and each service as a child
process on this machine (registry, inference, the ingestion API and one build worker, the
training API and one CPU training worker, feedback, the gateway), started in order, health-checked,
restarted with backoff when one crashes (``supervisor``), and stopped cleanly.

State (URLs, ports, pids) goes to ``<data_dir>/platform.json`` so ``keel status`` and the
other commands find a running platform without flags. The gateway's key pepper and the
operator's admin key live in ``<data_dir>/gateway/`` (mode 0600), so keys survive restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from keel_client.gateway import GatewayClient, GatewayError
from keel_client.state import (
    STATE_FILE,
    Component,
    PlatformState,
    admin_key_path,
    default_data_dir,
    gateway_dir,
    read_secret,
)
from keel_common.contract import OPERATOR_TENANT
from keel_common.errors import Unavailable
from keel_common.grpc import wait_healthy
from keel_common.redis import EmbeddedValkey
from keel_dev.supervisor import Event, Probe, RestartPolicy, Supervisor

ADMIN_KEY_NAME = "keel-up-admin"
ADMIN_SCOPES = "admin,inference,training"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_secret(path: Path, value: str) -> None:
    """Replace ``path`` atomically with ``value``, readable by this user only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # a stale .tmp may have been created with other bits
        f.write(value + "\n")
    tmp.replace(path)


def wait_http_live(url: str, timeout: float) -> None:
    """Poll ``url`` (a ``/livez``) until it answers 200; raise Unavailable after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            resp = httpx.get(url, timeout=max(0.2, min(2.0, deadline - time.monotonic())), trust_env=False)
            if resp.status_code == 200:
                return
            last = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise Unavailable(f"{url} not live after {timeout:.0f}s ({last})")
        time.sleep(0.1)


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
        gateway: bool = True,
        gateway_port: int = 8080,
        gateway_startup_timeout: float = 180.0,
        training: bool = False,
        training_port: int = 50053,
        training_http_port: int = 8083,
        training_worker_metrics_port: int = 8086,
        training_queue: str = "train.cpu",
        ingestion: bool = False,
        ingestion_port: int = 50054,
        ingestion_http_port: int = 8084,
        ingestion_worker_metrics_port: int = 8087,
        feedback: bool = False,
        feedback_port: int = 50055,
        feedback_http_port: int = 8085,
        restart_policy: RestartPolicy | None = None,
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
        self.gateway = gateway
        self.gateway_port = gateway_port
        self.gateway_startup_timeout = gateway_startup_timeout
        self.training = training
        self.training_port = training_port
        self.training_http_port = training_http_port
        self.training_worker_metrics_port = training_worker_metrics_port
        self.training_queue = training_queue
        self.ingestion = ingestion
        self.ingestion_port = ingestion_port
        self.ingestion_http_port = ingestion_http_port
        self.ingestion_worker_metrics_port = ingestion_worker_metrics_port
        self.feedback, self.feedback_port, self.feedback_http_port = (
            feedback,
            feedback_port,
            feedback_http_port,
        )
        # The admin key of the operator tenant, once the gateway is up (never in platform.json).
        self.admin_key = ""
        self.valkey: EmbeddedValkey | None = None
        # Each service a supervised child: `keel up` restarts a crashed one (see supervise()).
        self.supervisor = Supervisor(restart_policy)
        # Spawned and not yet healthy: start() launches every service, then waits for them all.
        self._starting: list[tuple[str, Probe, subprocess.Popen[bytes], float | None]] = []
        self.state = PlatformState(str(self.data_dir))

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def registry_target(self) -> str:
        return self.state.components["registry"].grpc

    @property
    def gateway_url(self) -> str:
        """The gateway's root URL (the OpenAI API is under ``/v1``)."""
        return self.state.components["gateway"].http

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each running child, in start order."""
        return {n: c.proc for n, c in self.supervisor.children.items() if c.proc is not None}

    def _spawn(
        self,
        name: str,
        module: str,
        env: dict[str, str],
        probe: Probe,
        args: tuple[str, ...] = ("serve",),
    ) -> subprocess.Popen[bytes]:
        log_path = self.data_dir / "logs" / f"{name}.log"
        argv = [sys.executable, "-m", module, *args]
        return self.supervisor.spawn(name, argv, {**os.environ, **env}, log_path, probe)

    def _wait(
        self,
        name: str,
        probe: Callable[[float], None],
        proc: subprocess.Popen[bytes],
        timeout: float | None = None,
    ) -> None:
        """Wait until ``probe`` (gRPC SERVING or HTTP /livez) passes, in short slices so a child
        that dies is reported at once."""
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while True:
            try:
                probe(min(1.0, max(0.1, deadline - time.monotonic())))
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
            # Every service is launched before any is waited for: each needs only the others'
            # addresses (chosen here), so their start-up (mostly imports) overlaps on all cores.
            self._start_service("registry", self.registry_port, self.registry_http_port)
            if self.inference:
                self._start_inference()
            if self.ingestion:
                self._start_ingestion()
            if self.training:
                self._start_training()
            if self.feedback:  # the consumer of the interactions the gateway writes, and their ratings
                ingestion = {"KEEL_FEEDBACK_INGESTION_TARGET": self._target("ingestion", self.ingestion_port)}
                self._start_service("feedback", self.feedback_port, self.feedback_http_port, ingestion)
            if self.gateway:
                self._start_gateway()
            for name, probe, proc, timeout in self._starting:  # in start order: the first to fail is named
                self._wait(name, probe, proc, timeout)
            self._starting.clear()
            if self.gateway:
                self.admin_key = self._admin_key()
            self.state.save()
            return self.state
        except BaseException:
            self.stop()
            raise

    def _start_service(
        self,
        name: str,
        port: int | None,
        http_port: int,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Spawn ``keel_<name> serve`` on localhost with the platform's data dir and Redis, record
        it as a component; start() then waits until it is SERVING (gRPC health), or, for an
        HTTP-only service (``port=None``), until its ``/livez`` answers."""
        grpc_port = None if port is None else port_or_free(port)
        http_port = port_or_free(http_port)
        prefix = f"KEEL_{name.upper()}_"
        ports = {prefix + "HTTP_PORT": str(http_port)}
        if grpc_port is not None:
            ports[prefix + "GRPC_PORT"] = str(grpc_port)
        target = "" if grpc_port is None else f"127.0.0.1:{grpc_port}"
        http = f"http://127.0.0.1:{http_port}"

        def probe(t: float) -> None:
            if target:
                wait_healthy(target, timeout=t)
            else:
                wait_http_live(f"{http}/livez", timeout=t)

        proc = self._spawn(
            name,
            f"keel_{name}",
            {
                "KEEL_DATA_DIR": str(self.data_dir),
                "KEEL_REDIS_URL": self.redis_url or "",
                prefix + "HOST": "127.0.0.1",
                **ports,
                **(env or {}),
            },
            probe,
        )
        self.state.components[name] = Component(
            name,
            grpc=target,
            http=http,
            pid=proc.pid,
            log=str(self.data_dir / "logs" / f"{name}.log"),
        )
        self._starting.append((name, probe, proc, timeout))

    @staticmethod
    def model_cache() -> str:
        """Where converted base models live, shared across data dirs (and by inference and
        training) so only the first start converts the GGUF."""
        return os.environ.get("KEEL_INFERENCE_MODEL_CACHE_DIR") or str(Path.home() / ".cache/keel/models")

    def _start_inference(self) -> None:
        """Ray in local mode with the Serve app (N=1)."""
        self._start_service(
            "inference",
            self.inference_port,
            self.inference_http_port,
            {"KEEL_INFERENCE_MODEL_CACHE_DIR": self.model_cache()},
            self.inference_startup_timeout,
        )

    def _artifact_root(self) -> str:
        return os.environ.get("KEEL_ARTIFACT_ROOT") or str(self.data_dir / "artifacts")

    def _target(self, name: str, default_port: int) -> str:
        comp = self.state.components.get(name)
        return comp.grpc if comp else f"127.0.0.1:{default_port}"

    def _training_env(self) -> dict[str, str]:
        """What the training API and its workers share: Redis (broker, jobs, events), the
        artifact store the registry reads, the registry, ingestion (dataset versions), the model
        cache and the queue."""
        return {
            "KEEL_ARTIFACT_ROOT": self._artifact_root(),
            "KEEL_TRAINING_REGISTRY_TARGET": self.registry_target,
            "KEEL_TRAINING_INGESTION_TARGET": self._target("ingestion", self.ingestion_port)
            if self.ingestion
            else "",
            "KEEL_TRAINING_MODEL_CACHE_DIR": os.environ.get("KEEL_TRAINING_MODEL_CACHE_DIR")
            or self.model_cache(),
            "KEEL_TRAINING_DEFAULT_QUEUE": self.training_queue,
        }

    def _start_training(self) -> None:
        """The training job API (gRPC), then ONE Celery worker on the local queue (train.cpu):
        each job runs in a fresh child process of that worker."""
        env = self._training_env()
        self._start_service("training", self.training_port, self.training_http_port, env)
        q = self.training_queue
        self._start_worker("training", env, self.training_worker_metrics_port, ("--queues", q), q)

    def _start_ingestion(self) -> None:
        """The ingestion API (gRPC), then ONE build worker (Celery, queue ``ingest``); QA
        synthesis calls the local inference service."""
        env = {
            "KEEL_ARTIFACT_ROOT": self._artifact_root(),
            "KEEL_INGESTION_REGISTRY_TARGET": self.registry_target,
            "KEEL_INGESTION_INFERENCE_TARGET": self._target("inference", self.inference_port),
            "KEEL_INGESTION_MODEL_CACHE_DIR": self.model_cache(),
        }
        self._start_service("ingestion", self.ingestion_port, self.ingestion_http_port, env)
        self._start_worker("ingestion", env, self.ingestion_worker_metrics_port, (), "ingest")

    def _start_worker(
        self, service: str, env: dict[str, str], metrics_port: int, args: tuple[str, ...], queues: str
    ) -> None:
        """``keel_<service> worker``: a Celery worker, healthy once its side server's /livez
        answers (start() waits for that)."""
        name = f"{service}-worker"
        port = port_or_free(metrics_port)
        http = f"http://127.0.0.1:{port}"
        prefix = f"KEEL_{service.upper()}_"

        def probe(t: float) -> None:
            wait_http_live(f"{http}/livez", timeout=t)

        proc = self._spawn(
            name,
            f"keel_{service}",
            {
                **env,
                "KEEL_DATA_DIR": str(self.data_dir),
                "KEEL_REDIS_URL": self.redis_url or "",
                prefix + "HOST": "127.0.0.1",
                prefix + "WORKER_METRICS_PORT": str(port),
            },
            probe,
            ("worker", *args),
        )
        self.state.components[name] = Component(
            name, http=http, pid=proc.pid, log=str(self.data_dir / "logs" / f"{name}.log"), queues=queues
        )
        self._starting.append((name, probe, proc, None))

    def _start_gateway(self) -> None:
        """The OpenAI-compatible gateway (HTTP only) in front of the local registry and inference
        (without inference it starts, and its /readyz says inference is unreachable). Once it
        is live, start() gets the operator's admin key (``_admin_key``)."""
        pepper_file = gateway_dir(self.data_dir) / "pepper"
        pepper = read_secret(pepper_file)
        if not pepper:  # one secret per data dir: the stored key hashes depend on it
            pepper = secrets.token_urlsafe(32)
            write_secret(pepper_file, pepper)
        env = {
            "KEEL_GATEWAY_REGISTRY_TARGET": self.registry_target,
            "KEEL_GATEWAY_INFERENCE_TARGET": self._target("inference", self.inference_port),
            "KEEL_GATEWAY_TRAINING_TARGET": self._target("training", self.training_port),
            "KEEL_GATEWAY_INGESTION_TARGET": self._target("ingestion", self.ingestion_port),
            "KEEL_GATEWAY_FEEDBACK_TARGET": self._target("feedback", self.feedback_port),
            "KEEL_GATEWAY_KEY_PEPPER": pepper,
            # The MiniLM rails take ~15 s to load; an explicit setting in the environment wins.
            "KEEL_GATEWAY_SEMANTIC_RAILS": os.environ.get("KEEL_GATEWAY_SEMANTIC_RAILS", "true"),
        }
        self._start_service("gateway", None, self.gateway_port, env, self.gateway_startup_timeout)

    def _admin_key(self) -> str:
        """The operator's admin key: created once and reused while it still verifies."""
        pepper = read_secret(gateway_dir(self.data_dir) / "pepper")
        path = admin_key_path(self.data_dir)
        saved = read_secret(path)
        if saved:
            with GatewayClient(self.gateway_url, saved, timeout=10) as gw:
                try:
                    gw.list_keys(OPERATOR_TENANT)
                    return saved
                except GatewayError as exc:
                    if exc.status not in (401, 403):  # revoked or unknown: make a new one below
                        raise RuntimeError(f"could not check the saved admin key {path}: {exc}") from None
        # The bootstrap path: the first admin key cannot come from the API it unlocks.
        cmd = [sys.executable, "-m", "keel_gateway", "keys", "create", "--tenant", OPERATOR_TENANT]
        cmd += ["--scopes", ADMIN_SCOPES, "--name", ADMIN_KEY_NAME, "--json"]
        env = {**os.environ, "KEEL_REDIS_URL": self.redis_url or "", "KEEL_GATEWAY_KEY_PEPPER": pepper}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        token = ""
        for line in reversed(done.stdout.splitlines()):  # JSON logs may share stdout
            try:
                token = str(json.loads(line).get("key") or "")
            except (ValueError, AttributeError):
                continue
            if token:
                break
        if done.returncode != 0 or not token:
            raise RuntimeError(
                f"could not create the admin key (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
            )
        write_secret(path, token)
        return token

    # Ray and Serve take longer than a plain gRPC server to drain and shut down; uvicorn gives
    # open streams 10 s. The training worker's warm shutdown waits for the job it runs; past
    # its grace the job is killed, and it resumes from its last checkpoint on a later start
    # (the API re-queues a job whose worker went silent).
    GRACE = {"inference": 60.0, "gateway": 20.0, "training-worker": 30.0, "ingestion-worker": 30.0}
    # Nothing a Celery worker started may outlive it: its pool processes die with it (billiard
    # sets PR_SET_PDEATHSIG), but what a job process started itself would not.
    REAP_GROUP = {"training-worker", "ingestion-worker"}

    def stop(self, grace: float = 10.0) -> list[str]:
        """Stop every component, the last started first; the names of those that did not drain
        within their grace and were killed."""
        killed, self._starting = [], []
        for name in reversed(list(self.supervisor.children)):
            if self.supervisor.stop(name, self.GRACE.get(name, grace), reap_group=name in self.REAP_GROUP):
                killed.append(name)
        if self.valkey is not None:
            self.valkey.stop()
            self.valkey = None
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        return killed

    def supervise(
        self, on_event: Callable[[Event], None] = lambda _: None, stop: threading.Event | None = None
    ) -> Event | None:
        """``keel up``'s main loop: restart what crashes (recorded in the state file, so `keel
        status` shows it) until a component keeps crashing (returns that ``gave_up`` event) or
        ``stop`` is set."""

        def record(event: Event) -> None:
            comp = self.state.components.get(event.name)
            child = self.supervisor.children.get(event.name)
            if comp is not None and child is not None:
                comp.restarts, comp.last_exit = child.restarts, child.last_exit
                comp.state = {
                    "restarting": "restarting",
                    "restarted": "starting" if child.starting else "running",
                    "gave_up": "failed",
                }.get(event.kind, "running")
                if child.proc is not None:
                    comp.pid = child.proc.pid
                self.state.save()
            on_event(event)

        self.supervisor.on_event = record
        try:
            return self.supervisor.run(stop=stop)
        finally:
            self.supervisor.on_event = lambda _: None
