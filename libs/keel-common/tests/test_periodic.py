"""Periodic: ticks until stopped, ends when a tick says False, survives a failing tick."""

from __future__ import annotations

import threading

from keel_common.periodic import Periodic


def test_a_failing_tick_is_retried_and_false_ends_the_loop() -> None:
    calls: list[int] = []
    done = threading.Event()

    def tick() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("redis blinked")
        if len(calls) == 3:
            done.set()
            return False
        return True

    p = Periodic("t", 0.01, tick)
    p.start()
    assert done.wait(5)
    p._thread.join(5)
    assert not p._thread.is_alive() and len(calls) == 3
    p.stop()


def test_stop_ends_a_running_loop() -> None:
    ticked = threading.Event()
    p = Periodic("t", 0.01, ticked.set)
    p.start()
    assert ticked.wait(5)
    p.stop()
    assert not p._thread.is_alive()


def test_stop_before_start_is_harmless() -> None:
    Periodic("t", 1.0, lambda: None).stop()
