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
from collections.abc import Iterator
from pathlib import Path

from mnist_sgd.datasets.archive import MAX_MEMBERS, MAX_UNPACKED_BYTES, open_tar, walk_members
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
    names = [clean for _, _, clean in _members(archive, where, max_bytes, max_members)]
    prefix = _root_prefix(names, strip_root)
    try:
        with atomic_dir(dest) as tmp:  # a second pass: a one-pass stream cannot go back
            for tar, member, clean in _members(archive, where, max_bytes, max_members):
                if clean and clean != strip_root:
                    _extract_one(tar, member, clean.removeprefix(prefix), tmp)
    except OSError as error:
        raise DataError(f"{where}: cannot unpack: {error}") from None
    return dest


def _members(
    archive: Path, where: str, max_bytes: int, max_members: int
) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str]]:
    """One streaming pass over the checked members, with the archive they come from."""
    with open_tar(archive, where, limit=max(max_bytes, MAX_UNPACKED_BYTES)) as tar:
        for member, clean in walk_members(tar, where, max_members=max_members, max_bytes=max_bytes):
            yield tar, member, clean


def _root_prefix(names: list[str], root: str | None) -> str:
    """``"root/"`` when every member sits under the top folder ``root``, else ``""``."""
    prefix = f"{root}/"
    if root is None or not all(name == root or name.startswith(prefix) for name in names):
        return ""
    return prefix


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, folder: Path) -> None:
    """Write the current member of ``tar``, checked, as ``folder/name`` (mode 644 or 755)."""
    member = copy.copy(member)
    member.name = name
    member.mode = 0o755 if member.isdir() else 0o644
    if hasattr(tarfile, "data_filter"):
        tar.extract(member, folder, set_attrs=True, filter="data")
    else:  # Python < 3.10.12/3.11.4: our own checks are the filter
        tar.extract(member, folder, set_attrs=False)
