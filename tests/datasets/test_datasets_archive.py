"""Reading gzip and tar through ``tarfile``, streaming: same members, every bad member refused."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from mnist_sgd.datasets.archive import clean_member_name, gunzip, tar_members
from mnist_sgd.errors import DataError


def make_tar(entries: list[tuple[str, bytes | str | None]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A tar in memory: ``(name, bytes)`` a file, ``(name, None)`` a folder, ``"->x"`` a symlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


# gzip


def test_gunzip_round_trip_and_several_members() -> None:
    assert gunzip(gzip.compress(b"abc"), "x.gz") == b"abc"
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), "x.gz") == b"abcd"


def test_truncated_gzip_is_named() -> None:
    data = gzip.compress(bytes(range(256)) * 100)
    with pytest.raises(DataError, match=r"x\.gz: truncated gzip"):
        gunzip(data[: len(data) // 2], "x.gz")


def test_corrupt_gzip_is_named() -> None:
    data = bytearray(gzip.compress(b"hello world" * 100))
    data[-8] ^= 0xFF  # the CRC
    with pytest.raises(DataError, match=r"x\.gz: corrupt gzip"):
        gunzip(bytes(data), "x.gz")


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(bytes(10_000_000))  # ~10 kB that inflates to 10 MB
    with pytest.raises(DataError, match="decompression bomb"):
        gunzip(bomb, "bomb.gz", limit=1_000_000)


# tar


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_members_match_tarfile(fmt: int) -> None:
    long_name = "root/" + "deep/" * 25 + "file.png"  # 134 characters: needs a long-name record
    entries: list[tuple[str, bytes | str | None]] = [
        ("root", None),
        ("root/train", None),
        ("root/train/3/10.png", b"png bytes"),
        ("root/empty.txt", b""),
        ("root/big.bin", bytes(range(256)) * 7),
    ]
    if fmt != tarfile.USTAR_FORMAT:
        entries.append((long_name, b"long"))
    else:
        entries.append(("root/" + "p" * 90 + "/" + "n" * 60, b"prefix"))  # ustar prefix field
    raw = make_tar(entries, fmt)
    ours = [(m.name, m.data) for m in tar_members(raw, "t.tar")]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        theirs = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]  # type: ignore[union-attr]
    assert ours == theirs


def test_dot_slash_names_are_cleaned() -> None:
    raw = make_tar([("./a/b.png", b"x")])
    assert [m.name for m in tar_members(raw, "t.tar")] == ["a/b.png"]


@pytest.mark.parametrize(
    "name", ["../evil.png", "a/../../evil.png", "/etc/passwd", "C:/x.png", "a\\..\\b"]
)
def test_escaping_names_are_refused(name: str) -> None:
    raw = make_tar([(name, b"x")])
    with pytest.raises(DataError, match="escapes the archive folder"):
        tar_members(raw, "t.tar")


def test_symlink_member_is_refused() -> None:
    raw = make_tar([("root/a.png", b"x"), ("root/link.png", "->/etc/passwd")])
    with pytest.raises(DataError, match=r"t\.tar: member 'root/link\.png' is a symbolic link"):
        tar_members(raw, "t.tar")


@pytest.mark.parametrize(
    ("kind", "what"),
    [(tarfile.LNKTYPE, "hard link"), (tarfile.CHRTYPE, "device"), (tarfile.FIFOTYPE, "FIFO")],
)
def test_links_devices_and_fifos_are_refused(kind: bytes, what: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("root/odd")
        info.type, info.linkname = kind, "root/a"
        tar.addfile(info)
    with pytest.raises(DataError, match=what):
        tar_members(buffer.getvalue(), "t.tar")


def test_bad_header_checksum_is_refused() -> None:
    raw = bytearray(make_tar([("a.png", b"x")]))
    raw[10] ^= 0x01  # inside the first header's name
    with pytest.raises(DataError, match="not a tar archive or corrupt \\(bad checksum\\)"):
        tar_members(bytes(raw), "t.tar")


def test_not_a_tar_is_refused() -> None:
    with pytest.raises(DataError, match="not a tar archive"):
        tar_members(b"PK\x03\x04" + bytes(2000), "t.zip")


def test_truncated_tar_is_refused() -> None:
    raw = make_tar([("a.bin", bytes(5000))])
    with pytest.raises(DataError, match="truncated"):
        tar_members(raw[:2048], "t.tar")


def test_member_count_cap_refuses_tar_bombs() -> None:
    raw = make_tar([(f"f{i}", b"") for i in range(20)])
    with pytest.raises(DataError, match="more than 10 members"):
        tar_members(raw, "t.tar", max_members=10)


def test_clean_member_name() -> None:
    assert clean_member_name("a/b/c.png", "t") == "a/b/c.png"
    assert clean_member_name("./a//b/./c.png", "t") == "a/b/c.png"
    assert clean_member_name("a/b/", "t") == "a/b"
