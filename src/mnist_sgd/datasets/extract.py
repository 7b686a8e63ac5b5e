"""Unpacking an archive to disk, safely, into a folder that appears only when complete.

``fetch(name, extract=True)`` unpacks MNIST_SAMPLE the way fastai's
``untar_data`` does, so the book's ``(path/'train'/'3').ls()`` works. Every
member is checked before anything is written: a clean relative name (no
absolute path, no ``..``), a regular file or a folder (no links, devices or
FIFOs), and caps on the member count and on the total unpacked size against
archive bombs. ``tarfile``'s ``data`` filter checks again where Python has it.
The files land in a temporary folder that is renamed into place at the end
(:func:`mnist_sgd.files.atomic_dir`), so Ctrl-C or a full disk leaves nothing.
"""

from __future__ import annotations

import copy
import tarfile
import zlib
from pathlib import Path

from mnist_sgd.datasets.archive import MAX_MEMBERS, MAX_UNPACKED_BYTES, clean_member_name
from mnist_sgd.errors import DataError
from mnist_sgd.files import atomic_dir


def extract_archive(
    archive: Path,
    dest: Path,
    *,
    strip_root: str | None = None,
    max_bytes: int = MAX_UNPACKED_BYTES,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Unpack the tar (optionally gzip'd) ``archive`` into the new folder ``dest``.

    Args:
        archive: a ``.tar``, ``.tgz`` or ``.tar.gz`` file.
        dest: the folder to create (an existing one is replaced only on success).
        strip_root: when every member sits under this top folder, drop it, so
            ``mnist_sample/train/3/10.png`` lands at ``dest/train/3/10.png``.
        max_bytes: refuse archives that unpack to more than this.
        max_members: refuse archives with more members than this.

    Returns:
        ``dest``.

    Raises:
        DataError: naming the archive and the bad member.
    """
    where = str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _checked_members(tar, where, max_bytes, max_members)
            members = _strip(members, strip_root)
            with atomic_dir(dest) as tmp:
                for member in members:
                    _extract_one(tar, member, tmp)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"{where}: cannot unpack: {error}") from None
    return dest


def _checked_members(
    tar: tarfile.TarFile, where: str, max_bytes: int, max_members: int
) -> list[tarfile.TarInfo]:
    """All members, each checked, before a single byte is written."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(members) >= max_members:
            raise DataError(f"{where}: more than {max_members} members; refusing a tar bomb")
        clean = clean_member_name(member.name, where)
        if not (member.isreg() or member.isdir()):
            what = "a link" if member.issym() or member.islnk() else "a device or FIFO"
            raise DataError(
                f"{where}: member {member.name!r} is {what}; only files and folders allowed"
            )
        total += member.size
        if total > max_bytes:
            raise DataError(
                f"{where}: unpacks past {max_bytes} bytes; refusing a decompression bomb"
            )
        if clean:
            member = copy.copy(member)
            member.name = clean
            members.append(member)
    return members


def _strip(members: list[tarfile.TarInfo], root: str | None) -> list[tarfile.TarInfo]:
    """Drop the top folder ``root`` from every name when all members sit under it."""
    prefix = f"{root}/"
    if root is None or not all(m.name == root or m.name.startswith(prefix) for m in members):
        return members
    stripped = []
    for member in members:
        if member.name != root:
            member.name = member.name[len(prefix) :]
            stripped.append(member)
    return stripped


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path) -> None:
    """Write one checked member under ``folder`` (files only get owner read/write)."""
    member.mode = 0o755 if member.isdir() else 0o644
    if hasattr(tarfile, "data_filter"):
        tar.extract(member, folder, set_attrs=True, filter="data")
    else:  # Python < 3.10.12/3.11.4: our own checks above are the filter
        tar.extract(member, folder, set_attrs=False)
