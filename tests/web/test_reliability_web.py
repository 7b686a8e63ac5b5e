"""The web server against slow and oversized requests (issue 15, the last smaller problems).

Before: a body shorter than its Content-Length hung for 15 s, and a 200 KB
header got a connection reset instead of a status. A real ``mnist-sgd
serve`` process, spoken to through a raw socket.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_sgd import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(sample_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a real ``serve`` process for a trained (dry-run) run."""
    out = tmp_path_factory.mktemp("web") / "run"
    args = ["train", "--dry-run", "--quiet", "--no-plots", "--out", str(out)]
    assert cli.main([*args, "--cache-dir", str(sample_cache)]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_sgd", "serve", str(out), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r":(\d+)/ ", line)
    assert match, line
    yield int(match.group(1))
    process.terminate()
    process.wait(timeout=30)


def exchange(port: int, request: bytes, wait_s: float = 30) -> bytes:
    """Send ``request`` and read the reply (b"" on a reset or a close without reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        try:
            sock.sendall(request)
            reply = sock.recv(65536)
            while reply and not whole(reply):  # the body can come in a later segment
                more = sock.recv(65536)
                if not more:
                    break
                reply += more
        except (ConnectionResetError, BrokenPipeError):
            return b""
    return reply


def whole(reply: bytes) -> bool:
    """Whether ``reply`` holds its head and as many body bytes as its Content-Length says."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return match is None or len(body) >= int(match.group(1))


def test_a_body_shorter_than_its_content_length_gets_408(server: int) -> None:
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    reply = exchange(server, head + b"\x89PNG\r\n\x1a\n", wait_s=10)  # before: 15 s, no reply
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"shorter than its Content-Length" in reply


def test_a_huge_header_gets_a_status_not_a_reset(server: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    reply = exchange(server, request)
    assert re.match(rb"HTTP/1.1 (400|431) ", reply), reply[:200]


def test_connections_that_never_finish_their_headers_are_closed(server: int) -> None:
    """Issue 29, 11: 200 of 200 connections that sent half a head were still open after 8 s."""
    import time

    socks = [socket.create_connection(("127.0.0.1", server), timeout=30) for _ in range(20)]
    try:
        for sock in socks:
            sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        for sock in socks:
            sock.settimeout(15)
            assert sock.recv(1024) == b""  # closed by the server, not by this timeout
        assert time.monotonic() - started < 15
    finally:
        for sock in socks:
            sock.close()
    whole_request = b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    assert exchange(server, whole_request).startswith(b"HTTP/1.1 200")
