"""Fuzz the IDX reader: random bytes, mutated IDX files, headers that claim huge sizes."""

from __future__ import annotations

import gzip
import struct

import numpy as np
from fuzzing import digit, documented, fuzz_settings, idx_bytes, mutated
from hypothesis import given
from hypothesis import strategies as st

from mnist_sgd.datasets.idx import read_idx

IMAGES = idx_bytes(np.stack([digit(i) for i in range(3)]))
LABELS = idx_bytes(np.array([3, 7, 3], np.uint8))
FLOATS = idx_bytes(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), 0x0D)
SEEDS = st.sampled_from([IMAGES, LABELS, FLOATS])


def check(data: bytes, rank: int | None = None) -> None:
    result = documented(lambda: read_idx(data, "fuzz.idx", rank=rank), max_mb=8)
    if isinstance(result, np.ndarray):
        # whatever it accepted is exactly what the header said, and the bytes held
        assert result.size * result.dtype.itemsize <= len(
            gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        )


@fuzz_settings()
@given(st.binary(max_size=256))
def test_random_bytes(data: bytes) -> None:
    check(data)


@fuzz_settings()
@given(mutated(SEEDS), st.sampled_from([None, 1, 3]))
def test_mutated_files(data: bytes, rank: int | None) -> None:
    check(data, rank)


@fuzz_settings()
@given(mutated(SEEDS.map(lambda raw: gzip.compress(raw, mtime=0))))
def test_mutated_gzip(data: bytes) -> None:
    check(data)


@fuzz_settings()
@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=6),
    st.binary(max_size=64),
)
def test_headers_claiming_anything(type_code: int, rank: int, dims: list[int], body: bytes) -> None:
    """No allocation before the claimed size is checked against the bytes present."""
    header = bytes([0, 0, type_code, rank]) + b"".join(struct.pack(">I", d) for d in dims)
    check(header + body)
