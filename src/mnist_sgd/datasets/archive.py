"""Reading tar and gzip archives with the standard library, streaming, capped against bombs.

Extracting to disk (:func:`open_tar`) reads an archive in one pass (mode ``r|``),
member by member, so the archive is never whole in memory; reading its images into
memory (:func:`iter_tar_members`) decompresses it whole first, which is faster. Either
way what is read comes through :class:`CappedReader`, which stops the stream past
``MAX_UNPACKED_BYTES`` (tarfile itself reads a long-name or pax header whole, whatever
size it claims). Every member is checked as it arrives: a clean relative name (no
absolute path, no ``..``), a regular file or a folder (no links, devices or
FIFOs; ``tarfile``'s ``data`` filter checks again where Python has it), caps
on the member count, on the declared sizes and on each kept member. A bomb is
refused after reading at most a cap's worth, whatever path it came by.
Gzip'd IDX files go through :func:`gunzip`, capped the same way.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple, cast

from mnist_sgd.errors import DataError

MAX_UNPACKED_BYTES = 192 << 20  # the tar stream, headers and all: MNIST as PNG is ~72 MB
MAX_MEMBERS = 200_000  # MNIST as PNG holds ~70,000
MAX_MEMBER_BYTES = 1 << 20  # one member kept in memory: a 28x28 image is under 1 KB
CHUNK_BYTES = 1 << 20

Source = Path | bytes
"""An archive on disk (streamed from the file) or already in memory."""


class Member(NamedTuple):
    """A regular file inside an archive: its clean relative name and its bytes."""

    name: str
    data: bytes


class CappedReader(io.RawIOBase):
    """A read-only stream over ``inner`` that raises ``DataError`` past ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int, name: str) -> None:
        super().__init__()
        self.inner, self.limit, self.name, self.done = inner, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.limit + 1 - self.done)
        data = self.inner.read(max(want, 1))
        self.done += len(data)
        if self.done > self.limit:
            raise DataError(
                f"{self.name}: expands past {self.limit} bytes; refusing a decompression bomb"
            )
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """A binary stream over ``source``: the open file, or the bytes."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with open(source, "rb") as handle:
            yield handle


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic number."""
    return data[:2] == b"\x1f\x8b"


@contextlib.contextmanager
def unpacked(source: Source, name: str, limit: int) -> Iterator[BinaryIO]:
    """``source`` decompressed when gzip'd, as a stream that refuses more than ``limit`` bytes."""
    with open_source(source) as raw:
        magic = raw.read(2)
        raw.seek(0)
        inner = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if is_gzip(magic) else raw
        yield io.BufferedReader(CappedReader(inner, limit, name), CHUNK_BYTES)


def gunzip(source: Source, name: str, *, limit: int = MAX_UNPACKED_BYTES) -> bytes:
    """``source`` decompressed when gzip'd (several members allowed), at most ``limit`` bytes.

    Raises:
        DataError: naming ``name`` when the data is truncated, corrupt, or would
            expand past ``limit`` (a decompression bomb).
    """
    try:
        with unpacked(source, name, limit) as stream:
            return stream.read()
    except EOFError:
        raise DataError(f"{name}: truncated gzip file (the stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{name}: corrupt gzip data ({error})") from None


def clean_member_name(name: str, archive: str) -> str:
    """``name`` without a leading ``./`` or trailing ``/``; ``DataError`` if it could escape.

    Rejected: absolute paths, Windows drive letters and backslashes, ``..``
    components, and NUL bytes.
    """
    stripped = name.removeprefix("./").rstrip("/")
    parts = stripped.split("/")
    escapes = (
        name.startswith(("/", "\\"))
        or "\\" in name
        or "\0" in name
        or (len(stripped) > 1 and stripped[1] == ":")
        or ".." in parts
    )
    if escapes:
        raise DataError(f"{archive}: member {name!r} escapes the archive folder; refusing it")
    if "" not in parts and "." not in parts:
        return stripped  # nothing to drop: most names (14,434 of them in MNIST_SAMPLE)
    return "/".join(part for part in parts if part not in ("", "."))


def check_member(member: tarfile.TarInfo, archive: str) -> str:
    """The member's clean name; ``DataError`` for an escaping name, a link, device or FIFO."""
    clean = clean_member_name(member.name, archive)
    if not (member.isreg() or member.isdir()):
        what = (
            "a symbolic link"
            if member.issym()
            else "a hard link"
            if member.islnk()
            else "a FIFO"
            if member.isfifo()
            else "a device"
        )
        raise DataError(
            f"{archive}: member {member.name!r} is {what}; only files and folders allowed"
        )
    return clean  # writing to disk adds tarfile's data filter (extract.py)


def walk_members(
    tar: tarfile.TarFile,
    archive: str,
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> Iterator[tuple[tarfile.TarInfo, str]]:
    """Each member of ``tar`` with its clean name, checked, counted and size-capped."""
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise DataError(f"{archive}: more than {max_members} members; refusing a tar bomb")
        clean = check_member(member, archive)
        total += member.size
        if total > max_bytes:
            raise DataError(
                f"{archive}: unpacks past {max_bytes} bytes; refusing a decompression bomb"
            )
        yield member, clean


@contextlib.contextmanager
def open_tar(
    source: Source, archive: str, limit: int = MAX_UNPACKED_BYTES
) -> Iterator[tarfile.TarFile]:
    """``source`` as a one-pass ``tarfile`` over the capped, decompressed stream.

    Raises:
        DataError: for a truncated, corrupt or non-tar ``source`` (and the caps).
    """
    try:
        with (
            unpacked(source, archive, limit) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            yield tar
    except EOFError:
        raise DataError(f"{archive}: truncated (the archive ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{archive}: corrupt gzip data ({error})") from None
    except tarfile.TarError as error:
        if "unexpected end" in str(error):
            raise DataError(f"{archive}: truncated (the archive ends early)") from None
        raise DataError(f"{archive}: not a tar archive or corrupt ({error})") from None


def tar_members(
    source: Source,
    archive: str,
    *,
    keep: Callable[[str], bool] = lambda _: True,
    max_members: int = MAX_MEMBERS,
) -> list[Member]:
    """The regular files of a tar or ``.tgz`` whose clean name ``keep`` accepts, in order.

    Folders are skipped; links, devices, FIFOs, escaping names, corrupt or
    truncated data and the caps above raise :class:`DataError` naming ``archive``.
    """
    return list(iter_tar_members(source, archive, keep=keep, max_members=max_members))


def iter_tar_members(
    source: Source,
    archive: str,
    *,
    keep: Callable[[str], bool] = lambda _: True,
    max_members: int = MAX_MEMBERS,
) -> Iterator[Member]:
    """:func:`tar_members` one by one, as ``tarfile`` reads their headers.

    The archive is decompressed whole first (:func:`gunzip`, capped at
    ``MAX_UNPACKED_BYTES``), then ``tarfile`` walks it in random-access mode and each
    kept member is a slice of that buffer: 20% less CPU than ``tarfile``'s stream mode
    with an ``extractfile`` a member (MNIST_SAMPLE's 14,434 members: 0.32 against 0.40 s,
    and less hurt by a busy machine: issue 30, benchmarks/RESULTS.md), for at most the cap
    in memory while it runs.
    """
    data = gunzip(source, archive, limit=MAX_UNPACKED_BYTES)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member, clean in walk_members(
                tar, archive, max_members=max_members, max_bytes=MAX_UNPACKED_BYTES
            ):
                if member.isreg() and keep(clean):
                    yield Member(clean, _member_bytes(data, member, archive))
    except EOFError:
        raise DataError(f"{archive}: truncated (the archive ends early)") from None
    except tarfile.TarError as error:
        if "unexpected end" in str(error):
            raise DataError(f"{archive}: truncated (the archive ends early)") from None
        raise DataError(f"{archive}: not a tar archive or corrupt ({error})") from None


def _member_bytes(data: bytes, member: tarfile.TarInfo, archive: str) -> bytes:
    """The bytes of a member about to be kept in memory (at most ``MAX_MEMBER_BYTES``)."""
    if member.size > MAX_MEMBER_BYTES:
        raise DataError(
            f"{archive}: member {member.name!r} is {member.size} bytes, more than "
            f"{MAX_MEMBER_BYTES} for an image; refusing it"
        )
    body = data[member.offset_data : member.offset_data + member.size]
    if len(body) != member.size:
        raise DataError(f"{archive}: truncated (a member runs past the end of the archive)")
    return body
