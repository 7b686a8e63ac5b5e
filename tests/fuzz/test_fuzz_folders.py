"""Fuzz the image-folder reader: mutated archives of image folders, and hostile images in them."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from fuzzing import digit, documented, fuzz_settings, mutated, png_bytes, tar_bytes
from hypothesis import given
from hypothesis import strategies as st

from mnist_sgd.datasets.archive import tar_members
from mnist_sgd.datasets.decode import decode_image
from mnist_sgd.datasets.folders import read_png_archive
from mnist_sgd.datasets.registry import DatasetInfo, Split

# PIL warns about the corrupt tags and EXIF blocks of mutated TIFFs; it copes with them
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

TINY = DatasetInfo(
    name="tiny",
    title="four digits",
    kind="png_archive",
    classes=("3", "7"),
    splits=(Split("train", "train", (1, 1)), Split("valid", "valid", (1, 1))),
    files=(),
    content_sha256="0" * 64,
    order="sorted",
    archive_root="tiny",
)
LAYOUT = {
    f"tiny/{split}/{label}/{i}.png": png_bytes(digit(i))
    for i, (split, label) in enumerate(
        [("train", "3"), ("train", "7"), ("valid", "3"), ("valid", "7")]
    )
}
ARCHIVES = st.sampled_from([tar_bytes(LAYOUT), tar_bytes(LAYOUT, compress=False)])
PNG = png_bytes(digit(1))
IMAGES = st.sampled_from(
    [
        PNG,
        png_bytes(digit(2), fmt="BMP"),
        png_bytes(digit(3), fmt="TIFF"),
        png_bytes(np.zeros((28, 28), np.uint8)),
    ]
)


def test_the_seed_archive_reads() -> None:
    tensors = read_png_archive(TINY, tar_bytes(LAYOUT), "tiny.tgz")
    assert tuple(tensors["train_images"].shape) == (2, 28, 28)


def check_archive(data: bytes) -> None:
    result = documented(lambda: read_png_archive(TINY, data, "fuzz.tgz"), max_mb=32)
    if isinstance(result, dict):
        assert all(result[f"{s}_images"].shape[1:] == (28, 28) for s in ("train", "valid"))


@fuzz_settings()
@given(mutated(ARCHIVES))
def test_mutated_archives(data: bytes) -> None:
    check_archive(data)


@fuzz_settings()
@given(mutated(IMAGES))
def test_mutated_image_inside_an_archive(image: bytes) -> None:
    check_archive(tar_bytes({**LAYOUT, "tiny/train/7/1.png": image}))


@fuzz_settings()
@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1, max_size=40),
        st.binary(max_size=64),
        max_size=4,
    )
)
def test_archives_with_any_member_names(members: dict[str, bytes]) -> None:
    check_archive(tar_bytes({**LAYOUT, **members}, compress=False))


@fuzz_settings()
@given(mutated(IMAGES))
def test_mutated_images(data: bytes) -> None:
    result = documented(lambda: decode_image(data, "fuzz.png"), max_mb=16)
    if isinstance(result, np.ndarray):
        assert result.shape == (28, 28) and result.dtype == np.uint8


@fuzz_settings()
@given(st.binary(max_size=2048))
def test_random_tar_bytes(data: bytes) -> None:
    documented(lambda: tar_members(data, "fuzz.tar"), max_mb=8)


def test_links_and_devices_are_refused() -> None:
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            member = tarfile.TarInfo("tiny/train/3/0.png")
            member.type, member.linkname = kind, "/etc/passwd"
            archive.addfile(member)
        data = buffer.getvalue()
        error = documented(lambda: read_png_archive(TINY, data, "x.tar"))  # noqa: B023
        assert isinstance(error, Exception), kind
