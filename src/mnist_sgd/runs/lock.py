"""One writer per run folder: a lock taken before anything is written into it.

``claim(run_dir)`` holds an OS file lock on ``run_dir/.lock`` (``filelock``:
``flock`` on POSIX, ``msvcrt`` on Windows) for as long as the block runs, and
records who holds it in ``run_dir/.lock.holder`` (pid, host, start time). A
second writer, in this process or another, gets :class:`RunBusyError` naming
the holder at once; it never waits and never writes. The kernel drops the lock
of a process that dies (SIGKILL, power cut of a remote mount aside), so a
stale lock of a dead writer is simply taken over, and its holder file is
overwritten. Readers (``load_run``) take no lock: the writer saves each file
atomically, so they see the files of the one run that holds the folder.
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

from filelock import FileLock, Timeout

from mnist_sgd.errors import MnistSgdError, ModelFileError
from mnist_sgd.files import atomic_write_text

LOCK_FILE, HOLDER_FILE = ".lock", ".lock.holder"

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
                    _release(Path(run_dir), lock)


def _acquire(run_dir: Path) -> FileLock:
    """Take the OS lock without waiting, then say who holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunBusyError(
            f"{run_dir} is being written by {holder(run_dir)}; wait for it to finish, "
            "or choose another --out"
        ) from None
    facts = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    atomic_write_text(run_dir / HOLDER_FILE, json.dumps(facts) + "\n")
    return lock


def _release(run_dir: Path, lock: FileLock) -> None:
    """Forget the holder, then drop the OS lock (the lock file stays, for the next writer)."""
    with contextlib.suppress(OSError):
        (run_dir / HOLDER_FILE).unlink()
    lock.release()


def holder(run_dir: Path) -> str:
    """``process 1234 on host H (since 12:34:56)``, or a vaguer phrase if the record is gone."""
    try:
        text = (Path(run_dir) / HOLDER_FILE).read_text(encoding="utf-8")[:1000]
        facts = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(facts["since"])))
        return f"process {int(facts['pid'])} on host {str(facts['host'])[:100]} (since {since})"
    except (OSError, ValueError, TypeError, KeyError, OverflowError):
        return "another process (it has not said which yet)"
