"""uvicorn's HTTP/1.1 protocol, closing a connection whose request head is too slow.

uvicorn waits for ever for the headers of a connection's first request, and for those of
a later one once a byte of them arrived: 200 sockets sending half a head held 200
connections open (issue 29, 11). Here each request head has ``HEAD_TIMEOUT_S`` from the
connection (or the previous response) to arrive whole, else the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 5.0
"""A request head that has not arrived whole within this long closes its connection."""
MAX_CONNECTIONS = 200
"""Connections (and their requests) served at once; past it, a 503 at once."""


def server_options() -> dict[str, Any]:
    """``uvicorn.Config`` options both servers run with: heads in time, connections capped."""
    return {"http": HeadsInTime, "limit_concurrency": MAX_CONNECTIONS}


class HeadsInTime(H11Protocol):
    """``H11Protocol`` with a deadline on each request head."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self._head_timer is not None:
            self._head_timer.cancel()  # the head is in: the body has its own timeout
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._too_slow)

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
