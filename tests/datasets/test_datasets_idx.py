"""IDX files: read what is there, refuse what the header cannot back."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mnist_sgd.datasets.idx import read_idx, write_idx
from mnist_sgd.errors import DataError


def images(n: int = 3) -> np.ndarray:
    return np.arange(n * 28 * 28, dtype=np.uint32).reshape(n, 28, 28).astype(np.uint8)


def test_images_and_labels_round_trip() -> None:
    data = write_idx(images())
    assert data[:4] == b"\x00\x00\x08\x03"
    assert np.array_equal(read_idx(data, "x", rank=3), images())
    labels = np.array([3, 7, 7], np.uint8)
    assert np.array_equal(read_idx(write_idx(labels), "y", rank=1), labels)


def test_gzipped_file_is_read() -> None:
    assert np.array_equal(read_idx(gzip.compress(write_idx(images())), "x.gz"), images())


@pytest.mark.parametrize("dtype", ["i1", ">i2", ">i4", ">f4", ">f8"])
def test_other_idx_types_come_back_native(dtype: str) -> None:
    array = (np.arange(12).reshape(3, 4) - 6).astype(dtype)
    result = read_idx(write_idx(array), "x")
    assert result.dtype.isnative and np.array_equal(result, array)


def test_wrong_magic_is_named() -> None:
    with pytest.raises(DataError, match="x: not an IDX file"):
        read_idx(b"\x1a\x2b\x08\x01" + bytes(8), "x")


def test_unknown_type_code() -> None:
    with pytest.raises(DataError, match="unknown IDX type code 0x07"):
        read_idx(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "x")


def test_header_claiming_more_than_the_file_holds() -> None:
    data = bytearray(write_idx(images(2)))
    data[4:8] = (1_000_000_000).to_bytes(4, "big")  # a billion images claimed; nothing allocated
    with pytest.raises(DataError, match="claims more data than the file holds"):
        read_idx(bytes(data), "x")


def test_truncated_payload() -> None:
    with pytest.raises(DataError, match="claims more data"):
        read_idx(write_idx(images())[:-1], "x")


def test_trailing_data() -> None:
    with pytest.raises(DataError, match="trailing data"):
        read_idx(write_idx(images()) + b"\x00", "x")


def test_truncated_header() -> None:
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(b"\x00\x00\x08\x03\x00\x00", "x")


def test_truncated_gzip() -> None:
    data = gzip.compress(write_idx(images(50)))
    with pytest.raises(DataError, match=r"x\.gz: truncated gzip"):
        read_idx(data[: len(data) - 100], "x.gz")


def test_wrong_rank() -> None:
    with pytest.raises(DataError, match="rank 1, expected rank 3"):
        read_idx(write_idx(np.zeros(5, np.uint8)), "x", rank=3)


def test_write_idx_refuses_unsupported_arrays() -> None:
    with pytest.raises(ValueError, match="IDX holds"):
        write_idx(np.zeros(3, np.int64))
