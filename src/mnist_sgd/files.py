"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file mnist-sgd writes (dataset cache, tensor cache, checkpoint, model,
metrics, plots, report) goes through here: it is written to a temporary name in
the same folder, flushed and fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` on success.

    On any exception (a full disk, Ctrl-C) the temporary file is removed and
    ``path`` keeps its previous contents.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if type(error) is OSError and error.filename is None and error.errno is not None:
            # a full disk says only "No space left on device": name the file it was writing
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; rename it onto ``path`` on success.

    Used for extracted archives: a half-extracted folder never appears under
    its final name. An existing ``path`` is replaced only after success.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)


_OWNER = re.compile(r"\.p(\d+)h([0-9a-f]{8})\.[^.]*\.tmp$")
ORPHAN_AGE_S = 24 * 3600  # a temp whose writer cannot be told apart is removed after a day


def _temp_prefix(target: Path) -> str:
    """``.<name>.p<pid>h<host>.``: a temp file names its writer, so only dead writers' go."""
    return f".{target.name}.p{os.getpid()}h{_host_tag()}."


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def remove_stale_temps(
    folder: str | os.PathLike[str], *, recursive: bool = False, dead_only: bool = False
) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; return what was removed.

    Only names this module makes (``.<name>.<writer>.<random>.tmp``, files or
    folders) are touched, in ``folder`` itself or, with ``recursive``, at any
    depth (symbolic links to folders are not followed). Without ``dead_only``
    call it only when no other process writes into ``folder`` (a run folder,
    under its lock); with it (a shared cache), a temp is removed only when
    the process that made it, on this host, has ended, or after a day.
    """
    removed: list[Path] = []
    found = Path(folder).rglob(".*.tmp") if recursive else Path(folder).glob(".*.tmp")
    for path in sorted(found):
        if any(p in removed for p in path.parents) or (dead_only and _writer_may_live(path)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def _writer_may_live(path: Path) -> bool:
    """Whether the process that made temp ``path`` may still be writing it."""
    match = _OWNER.search(path.name)
    if match and match.group(2) == _host_tag() and int(match.group(1)) > 0:
        try:
            os.kill(int(match.group(1)), 0)
        except (ProcessLookupError, OverflowError):
            return False
        except PermissionError:
            return True  # alive, another user's
        return True
    try:
        return time.time() - path.lstat().st_mtime < ORPHAN_AGE_S
    except FileNotFoundError:
        return True  # gone already


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every OS can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_new(folder: str | os.PathLike[str], data: bytes, names: Iterator[str]) -> Path:
    """Write ``data`` as a new file in ``folder`` under the first of ``names`` that is free.

    Written whole and synced under a temporary name, then hard-linked into place: the file
    appears complete or not at all, and never replaces another one. Returns its path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False) as handle:
        temp = Path(handle.name)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for name in names:
            try:
                os.link(temp, folder / name)
                return folder / name
            except FileExistsError:
                continue
        raise FileExistsError(f"{folder}: no free name for a new file")
    finally:
        temp.unlink(missing_ok=True)
