"""The runner's restart logic with real short-lived child processes: backoff that doubles, the
give-up after too many restarts within the window (with the log's tail), a child that comes
back and is probed healthy, restarts off, and a clean stop of a whole process group."""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from pathlib import Path

import pytest

from keel_common.errors import Unavailable
from keel_dev.supervisor import Event, RestartPolicy, Supervisor

FAST = RestartPolicy(max_restarts=2, window=60, backoff=0.05, max_backoff=0.08)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class Running:
    """The supervisor's loop (what run() does) on a thread until it gives up or the test ends;
    its events in a queue, in order."""

    def __init__(self, sup: Supervisor) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        sup.on_event = self.events.put
        self.result: list[Event] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(sup,), daemon=True)
        self.thread.start()

    def _loop(self, sup: Supervisor) -> None:
        while not self.done.is_set():
            given_up = sup.poll()
            if given_up:
                self.result.append(given_up)
                return
            self.done.wait(0.01)

    def next(self, timeout: float = 20) -> Event:
        return self.events.get(timeout=timeout)


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy(backoff=1, max_backoff=5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_a_child_that_keeps_crashing_is_restarted_then_given_up_with_its_log(tmp_path: Path) -> None:
    sup = Supervisor(FAST)
    log = tmp_path / "logs" / "crasher.log"
    crash = python("print('boom', flush=True); raise SystemExit(3)")
    first = sup.spawn("crasher", crash, dict(os.environ), log)
    run = Running(sup)
    events = [run.next() for _ in range(5)]
    assert [(e.kind, e.exit_code, e.attempt, e.delay) for e in events] == [
        ("restarting", 3, 1, 0.05),
        ("restarted", None, 0, 0.0),
        ("restarting", 3, 2, 0.08),  # doubled, capped
        ("restarted", None, 0, 0.0),
        ("gave_up", 3, 0, 0.0),
    ]
    assert events[0].describe() == "crasher exited with 3; restarting in 0.05s (restart 1/2)"
    assert events[1].pid != first.pid
    run.thread.join(10)
    gave_up = run.result[0]
    assert gave_up is events[-1] and gave_up.tail == ["boom", "boom", "boom"]  # one log, appended
    assert "crasher exited unexpectedly with 3 and keeps crashing (2 restarts" in gave_up.describe()
    child = sup.children["crasher"]
    assert child.restarts == 2 and child.last_exit == 3


def test_restarts_outside_the_window_do_not_count(tmp_path: Path) -> None:
    """Only restarts within the window count toward giving up (a fake clock moves past it)."""
    now = [0.0]
    sup = Supervisor(RestartPolicy(max_restarts=1, window=10, backoff=0), clock=lambda: now[0])
    events: list[Event] = []
    sup.on_event = events.append
    proc = sup.spawn("c", python("raise SystemExit(1)"), dict(os.environ), tmp_path / "c.log")
    for t in (0.0, 100.0, 200.0):
        now[0] = t
        proc.wait(10)
        assert sup.poll() is None  # a crash: restart scheduled
        assert sup.poll() is None  # the backoff (0) is over: started again
        proc = sup.children["c"].proc  # type: ignore[assignment]
    assert [e.kind for e in events] == ["restarting", "restarted"] * 3
    proc.wait(10)
    given_up = sup.poll()  # a second crash at t=200: the restart at 200 is in this window
    assert given_up is not None and given_up.kind == "gave_up"
    assert sup.children["c"].restarts == 3


def test_a_restarted_child_is_probed_until_it_serves(tmp_path: Path) -> None:
    """The child crashes once (no marker yet), then runs; the probe passes once it wrote its
    ready file: `restarting`, `restarted`, `back`, and the child keeps running."""
    marker, ready = tmp_path / "crashed-once", tmp_path / "ready"
    code = (
        "import pathlib, sys, time\n"
        f"m, r = pathlib.Path({str(marker)!r}), pathlib.Path({str(ready)!r})\n"
        "if not m.exists():\n    m.touch(); sys.exit(7)\n"
        "r.touch()\ntime.sleep(60)\n"
    )

    def probe(timeout: float) -> None:
        if not ready.exists():
            raise Unavailable("not ready yet")

    sup = Supervisor(FAST)
    sup.spawn("flaky", python(code), dict(os.environ), tmp_path / "flaky.log", probe)
    run = Running(sup)
    try:
        kinds = [(e.kind, e.exit_code) for e in (run.next(), run.next(), run.next())]
        assert kinds == [("restarting", 7), ("restarted", None), ("back", None)]
        child = sup.children["flaky"]
        assert child.proc is not None and child.proc.poll() is None and not child.starting
        with pytest.raises(queue.Empty):
            run.next(timeout=0.3)  # it stays up: nothing more happens
    finally:
        run.done.set()
        run.thread.join(10)
        drained = not sup.stop("flaky", grace=5)
    assert child.proc.returncode == -15 and drained


def test_restarts_off_gives_up_at_the_first_crash(tmp_path: Path) -> None:
    sup = Supervisor(RestartPolicy(max_restarts=0))
    sup.spawn("once", python("raise SystemExit(2)"), dict(os.environ), tmp_path / "once.log")
    gave_up = sup.run(0.01)
    assert gave_up.kind == "gave_up" and gave_up.exit_code == 2
    assert gave_up.describe() == "once exited unexpectedly with 2 (restarts are off)"


def test_stop_kills_a_child_that_ignores_sigterm_and_its_group(tmp_path: Path) -> None:
    """SIGTERM first; after the grace, SIGKILL to the whole group (here a grandchild too)."""
    pid_file = tmp_path / "grandchild"
    code = (
        "import signal, subprocess, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"t = pathlib.Path({str(pid_file)!r} + '.tmp'); t.write_text(str(p.pid))\n"
        f"t.rename({str(pid_file)!r})\n"
        "time.sleep(60)\n"
    )
    sup = Supervisor(FAST)
    proc = sup.spawn("stubborn", python(code), dict(os.environ), tmp_path / "s.log")
    deadline = time.monotonic() + 20
    while not pid_file.exists():  # written by rename: complete once it is there
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    grandchild = int(pid_file.read_text())
    assert sup.stop("stubborn", grace=0.5)  # reported as killed, not drained
    assert proc.returncode == -9 and "stubborn" not in sup.children
    wait_gone(grandchild)


def wait_gone(pid: int, timeout: float = 10) -> None:
    """Until ``pid`` no longer runs (gone, or a zombie): a SIGKILL takes effect asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":
            return
        assert time.monotonic() < deadline, f"{pid} still runs ({state})"
        time.sleep(0.02)
