"""Child processes kept running the way a cluster keeps pods running: one that exits on its own
is restarted with the same command line, environment (so the same ports) and log, after an
exponential backoff; one that keeps crashing (more than ``max_restarts`` restarts within
``window`` seconds) is given up on, and the caller stops the platform.

Transport-free and independent of Keel's services: a child is an argv, an environment, a log
file and, optionally, a probe that says when a restarted child serves again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from keel_common.errors import Unavailable

Probe = Callable[[float], None]
"""Returns when the child serves; raises Unavailable when it does not within the timeout given."""


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    """Restarts allowed within ``window``; the next crash gives up (0: never restart)."""
    window: float = 300.0
    backoff: float = 1.0
    """The first delay; each further restart within the window doubles it, up to max_backoff."""
    max_backoff: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass
class Event:
    """What the supervisor did: ``restarting`` (a crash, a restart scheduled after ``delay``),
    ``restarted`` (spawned again), ``back`` (a restarted child's probe passed) or ``gave_up``
    (with the tail of its log)."""

    kind: str
    name: str
    exit_code: int | None = None
    attempt: int = 0
    limit: int = 0
    delay: float = 0.0
    pid: int = 0
    tail: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "restarting":
            return (
                f"{self.name} exited with {self.exit_code}; restarting in {self.delay:g}s "
                f"(restart {self.attempt}/{self.limit})"
            )
        if self.kind == "restarted":
            return f"{self.name} restarted (pid {self.pid})"
        if self.kind == "back":
            return f"{self.name} is serving again (pid {self.pid})"
        if self.limit:
            return (
                f"{self.name} exited unexpectedly with {self.exit_code} and keeps crashing "
                f"({self.limit} restarts within the window)"
            )
        return f"{self.name} exited unexpectedly with {self.exit_code} (restarts are off)"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    probe: Probe | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0  # in all
    recent: list[float] = field(default_factory=list)  # when each restart within the window was
    last_exit: int | None = None
    due: float | None = None  # a restart is scheduled for then
    starting: bool = False  # restarted, and its probe has not passed yet
    log_file: IO[bytes] | None = None


def log_tail(path: Path, lines: int = 15) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return []


class Supervisor:
    """Spawn children with ``spawn``; call ``poll`` (or ``run``) to notice and restart the ones
    that exited; ``stop`` ends them all. Each event goes to ``on_event`` as it happens."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        on_event: Callable[[Event], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.on_event = on_event
        self.clock = clock
        self.children: dict[str, Child] = {}

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, probe: Probe | None = None
    ) -> subprocess.Popen[bytes]:
        child = self.children.get(name) or Child(name, argv, env, log_path, probe)
        self.children[name] = child
        self._start(child)
        assert child.proc is not None
        return child.proc

    def _start(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        if child.log_file is not None:
            child.log_file.close()
        child.log_file = child.log_path.open("ab")  # appended: a restart keeps the crash's lines
        child.proc = subprocess.Popen(
            child.argv,
            env=child.env,
            stdout=child.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops children in order
        )

    def poll(self) -> Event | None:
        """One look at every child: schedule restarts for those that exited, start those whose
        backoff is over, probe restarted ones. Returns the ``gave_up`` event, if any."""
        now = self.clock()
        for child in self.children.values():
            proc = child.proc
            if child.due is None and proc is not None and proc.poll() is not None:
                given_up = self._crashed(child, proc, now)
                if given_up:
                    return given_up
            elif child.due is not None and now >= child.due:
                child.due = None
                self._start(child)
                child.starting = child.probe is not None
                assert child.proc is not None
                self.on_event(Event("restarted", child.name, pid=child.proc.pid))
            elif child.starting and child.probe is not None and child.proc is not None:
                with contextlib.suppress(Unavailable):
                    child.probe(0.2)
                    child.starting = False
                    self.on_event(Event("back", child.name, pid=child.proc.pid))
        return None

    def _crashed(self, child: Child, proc: subprocess.Popen[bytes], now: float) -> Event | None:
        code = proc.returncode
        child.last_exit = code
        child.starting = False
        # What the dead process started (Ray's workers holding its ports, a Celery job process)
        # goes with it. The group id cannot be handed out again while members are left in it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        child.recent = [t for t in child.recent if now - t < self.policy.window]
        if len(child.recent) >= self.policy.max_restarts:
            event = Event(
                "gave_up", child.name, code, limit=self.policy.max_restarts, tail=log_tail(child.log_path)
            )
            self.on_event(event)
            return event
        child.recent.append(now)
        child.restarts += 1
        attempt = len(child.recent)
        delay = self.policy.delay(attempt)
        child.due = now + delay
        self.on_event(Event("restarting", child.name, code, attempt, self.policy.max_restarts, delay))
        return None

    def run(self, interval: float = 0.2, stop: threading.Event | None = None) -> Event | None:
        """Keep the children running until one keeps crashing (returns that ``gave_up`` event)
        or ``stop`` is set (returns None)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            given_up = self.poll()
            if given_up:
                return given_up
            stop.wait(interval)
        return None

    def stop(self, name: str, grace: float, reap_group: bool = False) -> bool:
        """SIGTERM to the child's main process (it stops its own children), SIGKILL to its whole
        group after ``grace`` seconds; ``reap_group`` kills whatever is left of the group even
        after a clean exit. True when it had to be killed (it did not drain in time)."""
        child = self.children.pop(name, None)
        if child is None or child.proc is None:
            return False
        proc = child.proc
        forced = False
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                forced = True
                # While the leader is not yet reaped, its group id cannot belong to anyone else.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if reap_group:
            # Linux does not hand out a pid that is still a process group's id, so this reaches
            # no one else even after the leader is gone.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if child.log_file is not None:
            child.log_file.close()
        return forced
