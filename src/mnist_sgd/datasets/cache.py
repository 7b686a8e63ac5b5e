"""The tensor cache: a dataset decoded once, then read back in milliseconds.

The first load decodes a dataset (PNG or IDX) and writes its four tensors to
``<cache>/tensors/<name>-<content>.v<FORMAT>.safetensors``, where ``<content>``
starts the registry's content digest: the SHA-256 of the decoded pixels and
labels in canonical order (:func:`content_digest`). Every source that passes
verification decodes to exactly these tensors, so they all share one file, and
a later load reads it (safetensors maps the file; no decoding, no source
needed). A local copy given explicitly is still checked: its fingerprint must
be listed in the ``.sources`` file beside the cache, written when that copy
was verified; otherwise it is decoded and verified again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import safetensors
import torch
from safetensors.torch import save
from torch import Tensor

from mnist_sgd.datasets.base import TENSOR_NAMES
from mnist_sgd.datasets.layout import FORMAT_VERSION
from mnist_sgd.datasets.registry import DatasetInfo
from mnist_sgd.files import atomic_write_bytes, atomic_write_text, remove_stale_temps


def remove_dead_temps(cache_dir: Path) -> None:
    """Remove the temporary files of writers that died (a killed download, decode or extract).

    Looks in ``downloads/`` (at any depth), ``tensors/`` and ``extracted/``;
    a temp of a process still running (another ``mnist-sgd`` loading the same
    cache) is left alone.
    """
    for folder, deep in (("downloads", True), ("tensors", False), ("extracted", False)):
        if (cache_dir / folder).is_dir():
            with contextlib.suppress(OSError):
                remove_stale_temps(cache_dir / folder, recursive=deep, dead_only=True)


def content_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over each split's size, pixels and labels, in canonical order.

    Hashed, for ``split`` in ``train``, ``valid``: the text ``"<split> <n>\\n"``,
    the images ``(n, 28, 28) uint8`` as C-ordered bytes, then the labels as
    little-endian int64.
    """
    digest = hashlib.sha256()
    for split in ("train", "valid"):
        images, labels = tensors[f"{split}_images"], tensors[f"{split}_labels"]
        digest.update(f"{split} {len(images)}\n".encode())
        digest.update(images.contiguous().numpy().data)
        digest.update(labels.to(torch.int64).numpy().astype("<i8").data)
    return digest.hexdigest()


def save_tensors(path: Path, info: DatasetInfo, tensors: Mapping[str, Tensor]) -> None:
    """Write the four tensors atomically, with the dataset's name and digest as metadata.

    A set whose digest is not published records the digest of ``tensors`` (its
    files were checked by MD5), which later loads and ``verify`` compare with.
    """
    digest = info.content_sha256 or content_digest(tensors)
    metadata = {"name": info.name, "content_sha256": digest}
    write_cached(path, {name: tensors[name] for name in TENSOR_NAMES}, metadata)


def write_cached(path: Path, tensors: Mapping[str, Tensor], metadata: dict[str, str]) -> None:
    """A cache file: ``tensors`` (made contiguous) and ``metadata``, written atomically."""
    payload = save(
        {name: tensor.contiguous() for name, tensor in tensors.items()},
        metadata={"mnist_sgd": str(FORMAT_VERSION), **metadata},
    )
    atomic_write_bytes(path, payload)


def read_cached(path: Path) -> tuple[dict[str, Tensor], dict[str, str]] | None:
    """A cache file's tensors (memory-mapped) and metadata; None when it is missing or
    unreadable (an unreadable file is removed)."""
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118
    except FileNotFoundError:
        return None
    except (OSError, safetensors.SafetensorError, ValueError, RuntimeError):
        discard(path)
        return None


def load_tensors(path: Path, info: DatasetInfo) -> dict[str, Tensor] | None:
    """The cached tensors, or None when missing or unusable (an unusable file is removed).

    The file's metadata, keys, dtypes and shapes are checked, not its digest
    (``verify`` rehashes it); a file of the wrong shape is a cache miss.
    """
    found = read_cached(path)
    if found is None:
        return None
    tensors, metadata = found
    recorded = metadata.get("content_sha256", "")
    expected = info.content_sha256 or (recorded if len(recorded) == 64 else None)
    if recorded != expected or not _shapes_ok(info, tensors):
        discard(path)
        return None
    return tensors


def recorded_content(path: Path) -> str | None:
    """The content digest a tensor cache file records (None: no such file, or none recorded)."""
    found = read_cached(path)
    digest = found[1].get("content_sha256", "") if found else ""
    return digest if len(digest) == 64 else None


def _shapes_ok(info: DatasetInfo, tensors: Mapping[str, Tensor]) -> bool:
    """Keys, dtypes and shapes match the registry's split sizes."""
    if set(tensors) != set(TENSOR_NAMES):
        return False
    for split in info.splits:
        images, labels = tensors[f"{split.name}_images"], tensors[f"{split.name}_labels"]
        if images.dtype != torch.uint8 or tuple(images.shape) != (split.size, 28, 28):
            return False
        if labels.dtype != torch.int64 or tuple(labels.shape) != (split.size,):
            return False
    return True


def discard(path: Path) -> None:
    """Remove a cache file that cannot be used (a miss, not an error)."""
    with contextlib.suppress(OSError):
        path.unlink()


def fingerprint(path: Path) -> str:
    """A cheap identity for a local copy: SHA-256 of a file's bytes, or of a folder's listing.

    For a folder, the listing is every file's relative path, size and
    modification time (nanoseconds), so an edited or replaced file changes it.
    """
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "file:" + digest.hexdigest()
    for folder, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            relative = os.path.relpath(os.path.join(folder, name), path)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "folder:" + digest.hexdigest()


def known_sources(cache_file: Path) -> set[str]:
    """Fingerprints of the local copies verified against ``cache_file``'s content."""
    try:
        return set(cache_file.with_suffix(".sources").read_text().split())
    except OSError:
        return set()


def remember_source(cache_file: Path, source_fingerprint: str) -> None:
    """Record that a local copy with this fingerprint decodes to ``cache_file``'s content."""
    sources = known_sources(cache_file) | {source_fingerprint}
    atomic_write_text(cache_file.with_suffix(".sources"), "\n".join(sorted(sources)) + "\n")
