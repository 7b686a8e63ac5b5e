"""Unpacking to disk: only clean files and folders, all or nothing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mnist_sgd.datasets import extract
from mnist_sgd.datasets.extract import extract_archive
from mnist_sgd.errors import DataError


def write_tgz(
    path: Path, entries: list[tuple[str, bytes | None]], *, link: str | None = None
) -> Path:
    """A ``.tgz`` of files (``bytes``) and folders (``None``), plus one symlink if asked."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_extracts_and_strips_the_root_folder(tmp_path: Path) -> None:
    archive = write_tgz(
        tmp_path / "sample.tgz",
        [
            ("sample", None),
            ("sample/train/3/1.png", b"one"),
            ("sample/labels.csv", b"name,label\n"),
        ],
    )
    dest = extract_archive(archive, tmp_path / "out" / "sample", strip_root="sample")
    assert (dest / "train" / "3" / "1.png").read_bytes() == b"one"
    assert (dest / "labels.csv").is_file()
    assert leftovers(tmp_path / "out") == ["sample"]


def test_keeps_the_layout_without_a_common_root(tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "a.tgz", [("x/1.png", b"1"), ("y/2.png", b"2")])
    dest = extract_archive(archive, tmp_path / "out", strip_root="x")
    assert (dest / "x" / "1.png").is_file() and (dest / "y" / "2.png").is_file()


@pytest.mark.parametrize("bad", ["../escape.png", "/abs/path.png", "a/../../up.png"])
def test_traversal_member_leaves_nothing(tmp_path: Path, bad: str) -> None:
    archive = write_tgz(tmp_path / "bad.tgz", [("ok/1.png", b"1"), (bad, b"evil")])
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="escapes the archive folder"):
        extract_archive(archive, tmp_path / "out" / "data")
    assert leftovers(tmp_path / "out") == []
    assert not (tmp_path / "escape.png").exists()


def test_symlink_member_leaves_nothing(tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "bad.tgz", [("ok/1.png", b"1")], link="ok/passwd")
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="'ok/passwd' is a symbolic link"):
        extract_archive(archive, tmp_path / "out" / "data")
    assert leftovers(tmp_path / "out") == []


def test_size_cap_refuses_a_bomb_before_writing(tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "bomb.tgz", [("zeros.bin", bytes(2_000_000))])
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="decompression bomb"):
        extract_archive(archive, tmp_path / "out" / "data", max_bytes=1_000_000)
    assert leftovers(tmp_path / "out") == []


def test_member_cap(tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "many.tgz", [(f"f{i}", b"") for i in range(30)])
    with pytest.raises(DataError, match="more than 20 members"):
        extract_archive(archive, tmp_path / "data", max_members=20)


def test_corrupt_archive_is_a_data_error(tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "a.tgz", [("x.bin", bytes(range(256)) * 400)])
    archive.write_bytes(archive.read_bytes()[:300])
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match=r"a\.tgz"):
        extract_archive(archive, tmp_path / "out" / "data")
    assert leftovers(tmp_path / "out") == []


def test_ctrl_c_during_extraction_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_tgz(tmp_path / "a.tgz", [(f"f{i}.png", b"x") for i in range(10)])
    written = []

    def interrupt_after_three(
        tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, folder: Path
    ) -> None:
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(name)
        real_extract_one(tar, member, name, folder)

    real_extract_one = extract._extract_one
    monkeypatch.setattr(extract, "_extract_one", interrupt_after_three)
    (tmp_path / "out").mkdir()
    with pytest.raises(KeyboardInterrupt):
        extract_archive(archive, tmp_path / "out" / "data")
    assert len(written) == 3 and leftovers(tmp_path / "out") == []


def test_failed_extraction_keeps_the_previous_folder(tmp_path: Path) -> None:
    good = write_tgz(tmp_path / "good.tgz", [("a.png", b"1")])
    dest = extract_archive(good, tmp_path / "data")
    bad = write_tgz(tmp_path / "bad.tgz", [("b.png", b"2")], link="c.png")
    with pytest.raises(DataError):
        extract_archive(bad, dest)
    assert leftovers(dest) == ["a.png"]
