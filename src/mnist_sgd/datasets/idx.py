"""Reading IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a header (``0x00 0x00``, a type code, a rank, then one
big-endian ``uint32`` per dimension) followed by the values, row-major. The
header is checked against the data actually present before any array exists:
a file that claims more (or fewer) values than it holds is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mnist_sgd.datasets.archive import Source, gunzip
from mnist_sgd.datasets.checks import check_idx_payload, is_official
from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile
from mnist_sgd.errors import DataError

MAX_IDX_BYTES = 1 << 30
# type code -> numpy dtype (big-endian where it matters), as LeCun's page lists them
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def idx_payload(source: Source, name: str, *, limit: int = MAX_IDX_BYTES) -> bytes:
    """The IDX bytes of a file (or bytes) that may be gzip'd, refusing more than ``limit``."""
    return gunzip(source, name, limit=limit)


def read_idx(data: bytes, name: str, *, rank: int | None = None) -> np.ndarray:
    """Parse IDX ``data`` (gzip'd or not) into an array; ``name`` is used in errors.

    Args:
        data: the file's bytes.
        name: what to call the file in an error message.
        rank: the rank the caller expects (3 for images, 1 for labels), if any.

    Returns:
        A read-only array of the file's shape and dtype, for MNIST images
        ``(n, 28, 28) uint8``, for labels ``(n,) uint8``.

    Raises:
        DataError: wrong magic, unknown type, wrong rank, or a length that does
            not match the header.
    """
    payload = idx_payload(data, name)
    dtype, shape, offset = parse_idx_header(payload, name)
    if rank is not None and len(shape) != rank:
        raise DataError(f"{name}: IDX file of rank {len(shape)}, expected rank {rank}")
    array = np.frombuffer(payload, dtype=dtype, offset=offset).reshape(shape)
    return array if dtype.byteorder in ("=", "|") else array.astype(dtype.newbyteorder("="))


def parse_idx_header(payload: bytes, name: str) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Check an IDX header against the payload's length; return ``(dtype, shape, data offset)``."""
    if len(payload) < 4 or payload[:2] != b"\0\0":
        raise DataError(f"{name}: not an IDX file (wrong magic number {payload[:4].hex()!r})")
    type_code, rank = payload[2], payload[3]
    if type_code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{type_code:02x}")
    if not 1 <= rank <= 4:
        raise DataError(f"{name}: IDX rank {rank} is out of range 1..4")
    offset = 4 + 4 * rank
    if len(payload) < offset:
        raise DataError(f"{name}: truncated IDX header ({len(payload)} bytes)")
    shape = tuple(int.from_bytes(payload[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = IDX_DTYPES[type_code]
    claimed = math.prod(shape) * dtype.itemsize
    held = len(payload) - offset
    if claimed != held:
        what = "claims more data than the file holds" if claimed > held else "has trailing data"
        raise DataError(
            f"{name}: IDX header {shape} {what} ({claimed} bytes claimed, {held} present)"
        )
    return dtype, shape, offset


def read_idx_dataset(
    info: DatasetInfo, read: Callable[[RemoteFile], tuple[Source, str]]
) -> dict[str, Tensor]:
    """Read and check ``info``'s four IDX files; ``read(file)`` gives ``(file or bytes, name)``.

    Each file is decompressed as a stream that stops past the registry's size
    for it (a gzip bomb costs at most that much memory).

    Returns:
        ``{"train_images": (60000, 28, 28) uint8, "train_labels": (60000,) int64, ...}``.
    """
    tensors: dict[str, Tensor] = {}
    label_rank = 1 if info.label_column is None else 2
    for split in info.splits:
        arrays = []
        for kind, rank in (("images", 3), ("labels", label_rank)):
            file = next(f for f in info.files if f.name.startswith(f"{split.source_name}-{kind}"))
            data, name = read(file)
            payload = idx_payload(data, name, limit=file.payload_size or MAX_IDX_BYTES)
            if file.payload_sha256 or file.payload_md5:
                check_idx_payload(file, payload, name)
            else:  # nothing published to check a re-pack by: the official bytes only
                raw = data if isinstance(data, bytes) else Path(data).read_bytes()
                if not is_official(file, raw):
                    check_idx_payload(file, payload, name)  # raises, saying why
            arrays.append(read_idx(payload, name, rank=rank))
        images, labels = arrays
        if info.label_column is not None:  # QMNIST: one row of facts per image
            labels = labels[:, info.label_column]
        if images.shape[1:] != (28, 28) or len(labels) != len(images):
            raise DataError(f"{name}: {len(labels)} labels for images of shape {images.shape}")
        _check_classes(info, split.name, labels, split.class_counts, name)
        tensors[f"{split.name}_images"] = torch.from_numpy(images.copy())
        tensors[f"{split.name}_labels"] = torch.from_numpy(labels.astype(np.int64))
    return tensors


def _check_classes(
    info: DatasetInfo, split: str, labels: np.ndarray, expected: tuple[int, ...] | None, name: str
) -> None:
    """Labels among the classes, and as many per class as the registry lists (if it does)."""
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(info.classes):
        raise DataError(
            f"{name}: labels {int(labels.min())}..{int(labels.max())}, but {info.name} has "
            f"{len(info.classes)} classes; the file is corrupt or not {info.name}'s"
        )
    counts = np.bincount(labels, minlength=len(info.classes)).tolist()
    if expected is not None and tuple(counts) != expected:
        raise DataError(
            f"{name}: {split} has {counts} images per class, {info.name} has {list(expected)}; "
            f"the file is corrupt or not {info.name}'s"
        )


def write_idx(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file (the inverse of :func:`read_idx`); dtype from ``IDX_DTYPES``.

    Example: ``write_idx(images)`` for ``(n, 28, 28) uint8`` images gives the
    bytes of an ``idx3-ubyte`` file.
    """
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or not 1 <= array.ndim <= 4:
        raise ValueError(
            f"IDX holds rank 1..4 arrays of {sorted(map(str, codes))}, got {array.dtype}"
        )
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
