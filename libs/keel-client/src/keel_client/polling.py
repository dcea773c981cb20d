"""Following a long-running resource (a dataset build, an evaluation) by polling the gateway:
each new state once, until it is finished, riding out brief gateway outages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from keel_client.errors import GatewayError, GatewayUnreachable

# Answers worth asking again: no answer at all (0), and the gateway's upstream-trouble codes.
TRANSIENT = (0, 502, 503, 504)


def follow(
    fetch: Callable[[], dict[str, Any]],
    finished: Callable[[dict[str, Any]], bool],
    poll_s: float,
    timeout: float | None,
    retries: int,
    timed_out: Callable[[dict[str, Any]], GatewayError],
) -> Iterator[dict[str, Any]]:
    """``fetch()``'s result each time it changes, every ``poll_s`` seconds, until ``finished``
    (the last one yielded is). A fetch that gets no answer or a 502/503/504 after the first
    one is tried again (up to ``retries`` in a row, backing off); past ``timeout`` seconds
    (None: no limit) ``timed_out(last)`` is raised."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: dict[str, Any] | None = None
    failures = 0
    while True:
        try:
            current = fetch()
            failures = 0
        except GatewayError as exc:
            failures += 1
            first = last is None and isinstance(exc, GatewayUnreachable)
            if exc.status not in TRANSIENT or first or failures > retries:
                raise
            time.sleep(min(2.0, 0.25 * 2**failures))
            continue
        if current != last:
            last = current
            yield current
        if finished(current):
            return
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise timed_out(current)
        time.sleep(poll_s if left is None else min(poll_s, left))
