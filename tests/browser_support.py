"""Shared by the browser tests: Debian's chromium under Playwright, an app under uvicorn.

Not a test module. Each browser test module sets ``pytestmark = MARKS`` (skipped,
with the reason, where chromium is missing) and uses the ``browser`` fixture of
``conftest.py``, which launches ``CHROMIUM`` with ``ARGS``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} "
        "(apt-get install chromium; .ci/run installs it)",
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free loopback port; yields its URL."""
    import uvicorn

    from mnist_sgd.cli.serve import bind, url

    sock = bind("127.0.0.1", 0)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    yield url(sock)
    uv.should_exit = True
    thread.join(timeout=30)
    sock.close()


def save_shot(page: Any, shots: Path, name: str, selector: str | None = None) -> Path:
    """A screenshot (of ``selector``, else the full page) into ``shots``; its path.

    Copied to ``$MNIST_SGD_WEB_SHOTS`` too when that is set, for a person to look at.
    """
    path = shots / name
    target = page.locator(selector) if selector else page
    kwargs = {} if selector else {"full_page": True}
    target.screenshot(path=str(path), **kwargs)
    if os.environ.get("MNIST_SGD_WEB_SHOTS"):
        copy = Path(os.environ["MNIST_SGD_WEB_SHOTS"])
        copy.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy / name)
    return path
