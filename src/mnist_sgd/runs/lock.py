"""One writer per run folder: a lock taken before anything is written into it.

``claim(run_dir)`` holds an OS lock (``fcntl.flock``) on ``run_dir/.lock``
for as long as the block runs, and writes who holds it (pid, host, start
time) into that file. A second writer, in this process or another, gets
:class:`RunBusyError` naming the holder at once; it never waits and never
writes. The kernel drops the lock of a process that dies (even by SIGKILL),
so a stale lock of a dead writer is simply taken over and its record
overwritten. A folder the claim created and that is still empty at the end
(the data failed to load) is removed again. Readers (``load_run``) take no
lock: the one writer saves each file atomically, so they see the files of
the one run that holds the folder. Where there is no ``fcntl`` (Windows),
``filelock`` takes the lock and the holder is not named.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnist_sgd.errors import MnistSgdError, ModelFileError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"

_held: dict[Path, int] = {}  # run folder -> how many nested claims this process holds
_guard = threading.Lock()


class RunBusyError(MnistSgdError):
    """Another process (or another part of this one) is writing the run folder."""


@contextlib.contextmanager
def claim(run_dir: Path, *, create: bool = True) -> Iterator[None]:
    """Hold ``run_dir``'s writer lock for the block; nested claims in one process share it.

    Args:
        create: make ``run_dir`` if it is absent (a new run); else a missing folder is an error.

    Raises:
        RunBusyError: another writer holds it; the message names its pid and host.
        ModelFileError: ``run_dir`` does not exist and ``create`` is False.
    """
    if not create and not Path(run_dir).is_dir():
        raise ModelFileError(
            f"{run_dir}: no such run folder; train one with 'mnist-sgd train --out {run_dir}'"
        )
    key = Path(run_dir).resolve()
    with _guard:
        if key in _held:
            _held[key] += 1
            lock = None
        else:
            lock = _acquire(Path(run_dir))
            _held[key] = 1
    try:
        yield
    finally:
        with _guard:
            _held[key] -= 1
            if _held[key] == 0:
                del _held[key]
                if lock is not None:
                    _release(lock)


class _Held:
    """An OS lock held on ``run_dir/.lock``: its descriptor; whether the claim made the folder."""

    def __init__(self, run_dir: Path, made: bool, fd: int | None, other: Any = None) -> None:
        self.run_dir, self.made, self.fd, self.other = run_dir, made, fd, other


def _acquire(run_dir: Path) -> _Held:
    """Take the OS lock without waiting, then write who holds it into the lock file.

    A lock that cannot be written (a full disk) leaves nothing behind in a folder it made,
    and the error names the lock file.
    """
    made = not run_dir.is_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        return _Held(run_dir, made, None, _acquire_filelock(run_dir))
    path = run_dir / LOCK_FILE
    try:
        return _Held(run_dir, made, _lock(path))
    except OSError as error:
        if made:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
                run_dir.rmdir()
        raise OSError(error.errno, error.strerror, str(error.filename or path)) from None


def _lock(path: Path) -> int:
    """The descriptor of ``path``, flocked, holding this process's pid, host and start time."""
    for _ in range(10):  # a holder that removed the file as we opened it: open it again
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                facts = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(facts) + "\n").encode(), 0)
                return fd
        except BlockingIOError:
            os.close(fd)
            raise _busy(path.parent) from None
        except OSError:
            os.close(fd)
            raise
        os.close(fd)
    raise _busy(path.parent)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one a former holder unlinked)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _acquire_filelock(run_dir: Path) -> Any:  # pragma: no cover - Windows
    from filelock import FileLock, Timeout

    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _busy(run_dir) from None
    return lock


def _busy(run_dir: Path) -> RunBusyError:
    return RunBusyError(
        f"{run_dir} is being written by {holder(run_dir)}; wait for it to finish, "
        "or choose another --out"
    )


def _release(held: _Held) -> None:
    """Drop the lock; a folder this claim made and nothing else was written to goes too."""
    lock = held.run_dir / LOCK_FILE
    with contextlib.suppress(OSError):
        if held.made and [p.name for p in held.run_dir.iterdir()] == [LOCK_FILE]:
            lock.unlink()  # still holding it: a waiter that opened it sees another inode
            held.run_dir.rmdir()
        elif held.fd is not None:
            os.ftruncate(held.fd, 0)  # no holder any more
    if held.fd is not None:
        os.close(held.fd)  # closing drops the flock
    else:  # pragma: no cover - Windows
        held.other.release()


def holder(run_dir: Path) -> str:
    """``process 1234 on host H (since 12:34:56)``, or a vaguer phrase if the record is gone."""
    try:
        with (Path(run_dir) / LOCK_FILE).open("rb") as handle:
            facts = json.loads(handle.read(1000))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(facts["since"])))
        return f"process {int(facts['pid'])} on host {str(facts['host'])[:100]} (since {since})"
    except (OSError, ValueError, TypeError, KeyError, OverflowError):
        return "another process (it has not said which yet)"
