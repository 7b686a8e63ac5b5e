"""Checksums: is this the official file, a faithful re-pack of it, or something else?

The data README's rule: accept the official bytes (size and MD5 of the
download), and accept a re-pack when what it holds is the same: the
decompressed IDX payload (SHA-256 or MD5 from the README), or the decoded
pixels and labels (the registry's content digest, :func:`content_digest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from torch import Tensor

from mnist_sgd.datasets.cache import content_digest
from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile
from mnist_sgd.errors import DataError


def md5_hex(data: bytes) -> str:
    """MD5 of ``data`` as hex (an identity check of published files, not security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def is_official(file: RemoteFile, data: bytes) -> bool:
    """True when ``data`` is byte for byte the publisher's file (size, where published, and MD5)."""
    return (file.size is None or len(data) == file.size) and md5_hex(data) == file.md5


def check_idx_payload(file: RemoteFile, payload: bytes, where: str) -> None:
    """The decompressed IDX bytes must match the registry's size and SHA-256 or MD5."""
    problem = None
    if file.payload_size is not None and len(payload) != file.payload_size:
        problem = f"{len(payload)} bytes once decompressed, expected {file.payload_size}"
    elif file.payload_sha256 and hashlib.sha256(payload).hexdigest() != file.payload_sha256:
        problem = f"SHA-256 of the decompressed data is not {file.payload_sha256[:12]}..."
    elif file.payload_md5 and md5_hex(payload) != file.payload_md5:
        problem = f"MD5 of the decompressed data is not {file.payload_md5}"
    elif not (file.payload_sha256 or file.payload_md5):
        raise DataError(
            f"{where}: not the official {file.name} (its MD5 is not {file.md5}), and no digest "
            "of the decompressed data is published to check a re-pack against; use the "
            f"publisher's file ({file.url})"
        )
    if problem:
        raise DataError(
            f"{where}: checksum mismatch ({problem}); the file is corrupt or not {file.name}"
        )


def check_content(
    info: DatasetInfo, tensors: Mapping[str, Tensor], where: str, recorded: str | None = None
) -> None:
    """The decoded tensors must hash to the registry's content digest.

    ``recorded``: for a set whose digest is not published, the one the tensor
    cache recorded on the first load; with neither, there is nothing to compare
    (its files were checked by MD5).
    """
    expected = info.content_sha256 or recorded
    if expected is None:
        return
    digest = content_digest(tensors)
    if digest != expected:
        whose = "has" if info.content_sha256 else "decoded to (recorded on its first load)"
        raise DataError(
            f"{where}: content mismatch (SHA-256 of the decoded pixels and labels is "
            f"{digest[:12]}..., {info.name} {whose} {expected[:12]}...); "
            f"the copy is corrupt or not {info.name}"
        )
