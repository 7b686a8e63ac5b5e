"""Downloads: streamed to a temporary file in the cache, retried, verified, renamed into place.

A download reads the body in 64 KiB blocks (reporting progress), writes them
to a temporary file beside its final name, checks the whole, and only then
renames it into place (:func:`mnist_sgd.files.atomic_open`). A timeout, a
dropped connection, a checksum mismatch, a full disk or Ctrl-C leave nothing
in the cache. The same code serves ``http``, ``https`` and ``file`` URLs, so a
mirror folder is read exactly as a web server would be.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from mnist_sgd.datasets.base import Progress
from mnist_sgd.errors import DownloadError
from mnist_sgd.files import atomic_open

TIMEOUT_S = 30.0  # for connecting, and for each read: a stalled server fails, a slow one does not
RETRY_DELAYS_S = (1.0, 4.0)  # three tries in all
CHUNK_BYTES = 1 << 16
MAX_DOWNLOAD_BYTES = 256 << 20  # the largest official file is 16 MB
USER_AGENT = "mnist-sgd"
SOURCE_HINT = "use a mirror (--mirror or MNIST_SGD_MIRROR) or a local copy (--data-path)"


class NotFoundError(DownloadError):
    """The server or folder has no such file (a mirror may hold only some datasets)."""


class _TransientError(Exception):
    """A failure worth another try: a timeout, a dropped connection, a 5xx."""


def download(
    url: str,
    dest: Path,
    *,
    check: Callable[[bytes], None],
    what: str,
    progress: Progress | None = None,
    size_hint: int | None = None,
) -> bytes:
    """Fetch ``url`` into ``dest`` once ``check(body)`` accepts the body; return the body.

    Args:
        url: an ``http``, ``https`` or ``file`` URL.
        dest: the file to create; it appears only complete and checked.
        check: raises (a ``DataError``) to reject the body; nothing is kept then.
        what: the name passed to ``progress``.
        progress: called as ``progress(what, done_bytes, total_bytes or None)``.
        size_hint: the expected size, when the server does not send one.

    Raises:
        NotFoundError: the server or folder has no such file (HTTP 404/410).
        DownloadError: no network, timeouts or dropped connections on every
            try, or an HTTP error; the message names the URL and what to do.
    """
    for attempt, delay in enumerate((*RETRY_DELAYS_S, None), start=1):
        try:
            return _download_once(url, dest, check, what, progress, size_hint)
        except _TransientError as error:
            if delay is None:
                raise DownloadError(
                    f"cannot download {url}: {error} ({attempt} tries); {SOURCE_HINT}"
                ) from None
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_once(
    url: str,
    dest: Path,
    check: Callable[[bytes], None],
    what: str,
    progress: Progress | None,
    size_hint: int | None,
) -> bytes:
    """One try: open, stream into a temporary file, check, rename."""
    with _open(url) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        with atomic_open(dest, "wb") as handle:
            body = _stream(response, handle, what, progress, expected or size_hint)
            if expected is not None and len(body) != expected:
                raise _TransientError(f"connection dropped after {len(body)} of {expected} bytes")
            check(body)
    return body


def _open(url: str) -> http.client.HTTPResponse:
    """Open ``url``, sorting failures into not found, worth a retry, or final."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code in (404, 410):
            raise NotFoundError(f"{url}: HTTP {error.code} {error.reason}") from None
        if error.code >= 500 or error.code in (408, 429):
            raise _TransientError(f"HTTP {error.code} {error.reason}") from None
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, FileNotFoundError):
            raise NotFoundError(f"{url}: no such file") from None
        if isinstance(error.reason, socket.gaierror):  # no DNS: usually no network at all
            raise DownloadError(
                f"cannot download {url}: no network ({error.reason}); {SOURCE_HINT}"
            ) from None
        raise _TransientError(str(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets
        raise _TransientError(str(error) or type(error).__name__) from None


def _stream(
    response: BinaryIO, handle: IO[bytes], what: str, progress: Progress | None, total: int | None
) -> bytes:
    """Copy the body to ``handle`` block by block, reporting progress; return it whole."""
    body = bytearray()
    if progress is not None:
        progress(what, 0, total)
    while True:
        try:
            block = response.read(CHUNK_BYTES)
        except http.client.IncompleteRead as error:
            raise _TransientError(
                f"connection dropped after {len(body) + len(error.partial)} bytes"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise _TransientError(f"connection lost after {len(body)} bytes ({error})") from None
        if not block:
            return bytes(body)
        body += block
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise DownloadError(f"{what}: more than {MAX_DOWNLOAD_BYTES} bytes; refusing it")
        handle.write(block)
        if progress is not None:
            progress(what, len(body), total)
