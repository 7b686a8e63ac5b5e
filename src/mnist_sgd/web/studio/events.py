"""A bounded, thread-safe event log that asyncio readers can wait on.

Readers (each browser's ``text/event-stream``) ask for the events after the last number they
saw; the log keeps only the newest ``maxlen``, so a slow or vanished reader costs no memory.
Each event is kept as the text a reader sends (made once, not once a reader): about 180 bytes,
where its dict took 450; a studio remembers 32 trainings of up to 4,096 events (issue 29, 11).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from typing import Any

from mnist_sgd.web.shared.images import finite

Event = tuple[int, str, str]
"""``(number, kind, the server-sent event's text)``."""
EVENT_BUFFER = 4096
"""Events kept per training (a reader further behind skips to the oldest kept)."""
FINAL = ("done", "error")


class EventLog:
    """Publish from any thread; read from an event loop with :meth:`wait_after`."""

    def __init__(self, maxlen: int = EVENT_BUFFER) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self.last_seq = 0  # the number of the newest event (0 before the first)
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.closed = False

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Append an event and wake every waiting reader (NaN and infinity sent as null)."""
        try:
            text = json.dumps(data, allow_nan=False)
        except ValueError:  # callers pass finite data; a NaN must not end a training
            text = json.dumps(finite(data), allow_nan=False)
        with self._lock:
            self.last_seq += 1
            seq = self.last_seq
            self._events.append((seq, kind, f"id: {seq}\nevent: {kind}\ndata: {text}\n\n"))
            self.closed = self.closed or kind in FINAL
            waiters = list(self._waiters)
        for loop, ready in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(ready.set)

    def after(self, seq: int) -> list[Event]:
        """The kept events numbered above ``seq``, oldest first."""
        with self._lock:
            if not self._events or self._events[-1][0] <= seq:
                return []
            return [event for event in self._events if event[0] > seq]

    def __len__(self) -> int:
        return len(self._events)

    async def wait_after(self, seq: int, timeout: float) -> list[Event]:
        """The events after ``seq``, waiting up to ``timeout`` seconds for one to come."""
        ready = asyncio.Event()
        waiter = (asyncio.get_running_loop(), ready)
        with self._lock:
            self._waiters.add(waiter)
        try:
            events = self.after(seq)
            if events or self.closed:
                return events
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout)
            return self.after(seq)
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def sse(event: Event) -> str:
    """One server-sent event: ``id``, ``event`` and one ``data`` line of JSON."""
    return event[2]
