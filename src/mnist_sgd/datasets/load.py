"""``load_dataset``: a dataset by name, as stacked tensors, decoded once and cached.

Book section: "Pixels: the foundations of computer vision". The chapter opens
every PNG with PIL and stacks them (about 1.4 s for MNIST_SAMPLE); here the
first load decodes over all cores and writes a tensor cache, and every later
load maps that cache in milliseconds.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from mnist_sgd.datasets.base import DEFAULT_OPTIONS, DataOptions, MnistData
from mnist_sgd.datasets.cache import (
    content_digest,
    fingerprint,
    known_sources,
    load_tensors,
    recorded_content,
    remember_source,
    remove_dead_temps,
    save_tensors,
)
from mnist_sgd.datasets.checks import check_content, is_official
from mnist_sgd.datasets.folders import read_png_archive
from mnist_sgd.datasets.idx import read_idx_dataset
from mnist_sgd.datasets.layout import download_path, tensor_cache_path
from mnist_sgd.datasets.own import load_own
from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile, get_info, is_dataset_path
from mnist_sgd.datasets.sources import (
    LocalCopy,
    Tensors,
    check_download,
    fetch_files,
    find_local,
    local_files,
    read_local,
)
from mnist_sgd.errors import DataError


def load_dataset(name: str, options: DataOptions = DEFAULT_OPTIONS) -> MnistData:
    """Load ``name`` (``mnist_sample``, ``mnist``, ``mnist_png``, ``fashion_mnist``, or a path).

    A path is a user's own set (:mod:`mnist_sgd.datasets.own`: class folders, a
    Kaggle CSV, IDX files), split by ``options.valid_pct`` when it has no split.

    Sources, in order: ``options.path`` (read in place), the tensor cache, the
    download cache, ``options.mirror``, the official URL. Whatever the source,
    the decoded pixels and labels must match the registry's content digest.

    Returns:
        :class:`MnistData` with ``(n, 28, 28) uint8`` images and ``(n,) int64``
        labels per split; MNIST_SAMPLE gives 12,396 train and 2,038 valid images.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        DataError: the data is missing, corrupt, or cannot be downloaded.
    """
    remove_dead_temps(options.resolved_cache_dir())
    if is_dataset_path(name):
        return load_own(Path(name), options)
    info = get_info(name)
    cache_file = tensor_cache_path(options.resolved_cache_dir(), info)
    if options.path is not None:
        return _as_data(info, _load_local(info, find_local(info, Path(options.path)), cache_file))
    tensors = load_tensors(cache_file, info)
    if tensors is None:
        tensors = _decode_downloads(info, options, recorded_content(cache_file))
        _save(cache_file, info, tensors)
    return _as_data(info, tensors)


def _load_local(info: DatasetInfo, local: LocalCopy, cache_file: Path) -> Tensors:
    """Tensors of a local copy: from the cache if this very copy was verified before."""
    source = _local_fingerprint(info, local)
    if source in known_sources(cache_file):
        cached = load_tensors(cache_file, info)
        if cached is not None:
            return cached
    tensors = read_local(info, local)
    check_content(info, tensors, str(local.path), recorded_content(cache_file))
    if load_tensors(cache_file, info) is None:
        _save(cache_file, info, tensors)
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        remember_source(cache_file, source)
    return tensors


def _local_fingerprint(info: DatasetInfo, local: LocalCopy) -> str:
    """The archive's hash, the IDX files' hashes, or an image folder's listing."""
    return ",".join(fingerprint(path) for path in local_files(info, local))


def _decode_downloads(
    info: DatasetInfo, options: DataOptions, recorded: str | None, *, again: bool = True
) -> Tensors:
    """Fetch what is missing, decode the download cache, check the content.

    A cached file that no longer decodes to the registry's content (a disk
    error, a hand edit) is removed and fetched once more at once.
    """
    fetched = fetch_files(info, options)
    if fetched.tensors is not None:  # decoded and checked while fetching
        return fetched.tensors
    try:
        tensors = _decode_files(info, fetched.paths)
        check_content(info, tensors, str(fetched.paths[info.files[0].path]), recorded)
    except DataError as error:
        for path in fetched.paths.values():
            path.unlink(missing_ok=True)
        if again:
            return _decode_downloads(info, options, recorded, again=False)
        raise DataError(
            f"{error}; removed it from the cache, run again to fetch a fresh copy"
        ) from None
    return tensors


def _decode_files(info: DatasetInfo, paths: dict[str, Path]) -> Tensors:
    """Decode the files of ``info`` at ``paths`` (``RemoteFile.path`` -> file)."""
    if info.kind == "png_archive":
        archive = paths[info.files[0].path]
        return read_png_archive(info, archive, str(archive))

    def read(file: RemoteFile) -> tuple[Path, str]:
        return paths[file.path], str(paths[file.path])

    return read_idx_dataset(info, read)


def _save(cache_file: Path, info: DatasetInfo, tensors: Tensors) -> None:
    """Write the tensor cache; a cache that cannot be written only costs speed."""
    try:
        save_tensors(cache_file, info, tensors)
    except OSError as error:
        warnings.warn(f"cannot write the tensor cache {cache_file}: {error}", stacklevel=3)


def _as_data(info: DatasetInfo, tensors: Tensors) -> MnistData:
    return MnistData(
        name=info.name,
        classes=info.classes,
        train_images=tensors["train_images"],
        train_labels=tensors["train_labels"],
        valid_images=tensors["valid_images"],
        valid_labels=tensors["valid_labels"],
    )


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` checked, one line per check; every check passed."""

    name: str
    source: Path
    checks: tuple[str, ...]


def verify(name: str, options: DataOptions = DEFAULT_OPTIONS) -> VerifyReport:
    """Check ``name``'s local copy (``options.path``) or its cached files, and its tensor cache.

    Decodes everything and compares checksums and content with the registry; a
    tensor cache that no longer matches is removed.

    Raises:
        DataError: the first failed check, or nothing to verify (not fetched).
    """
    info = get_info(name)
    cache_dir = options.resolved_cache_dir()
    checks: list[str] = []
    if options.path is not None:
        local = find_local(info, Path(options.path))
        source, tensors = local.path, read_local(info, local)
        checks.append(f"{source}: read in place as {_KINDS[local.kind]}")
    else:
        source, tensors = _verify_downloads(info, cache_dir, checks)
    recorded = recorded_content(tensor_cache_path(cache_dir, info))
    check_content(info, tensors, str(source), recorded)
    sizes = ", ".join(f"{split.name} {split.size}" for split in info.splits)
    expected = info.content_sha256 or recorded
    if expected is None:
        checks.append(
            f"content: {sizes} images; no published digest, and none recorded yet "
            "(the first load records it)"
        )
    else:
        whose = "" if info.content_sha256 else " (recorded on the first load)"
        checks.append(f"content: {sizes} images, SHA-256 {expected[:16]}...{whose} matches")
    checks.append(_verify_tensor_cache(info, cache_dir))
    return VerifyReport(info.name, source, tuple(checks))


_KINDS = {"archive": "an archive", "folder": "image folders", "idx": "IDX files"}


def _verify_downloads(
    info: DatasetInfo, cache_dir: Path, checks: list[str]
) -> tuple[Path, Tensors]:
    """Check each cached download (official bytes or faithful re-pack) and decode them."""
    paths = {file.path: download_path(cache_dir, file) for file in info.files}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        hint = f"run: mnist-sgd data fetch {info.name}"
        raise DataError(f"{info.name} is not in the cache ({missing[0]} is missing); {hint}")
    for file in info.files:
        body = paths[file.path].read_bytes()
        check_download(info, file, body, str(paths[file.path]))
        kind = "the official file" if is_official(file, body) else "a faithful re-pack"
        checks.append(f"{paths[file.path]}: {len(body)} bytes, {kind}")
    return paths[info.files[0].path].parent, _decode_files(info, paths)


def _verify_tensor_cache(info: DatasetInfo, cache_dir: Path) -> str:
    """Rehash the tensor cache, if there is one; remove it if it does not match."""
    cache_file = tensor_cache_path(cache_dir, info)
    tensors = load_tensors(cache_file, info)
    if tensors is None:
        return f"tensor cache: none yet ({cache_file})"
    if content_digest(tensors) != (info.content_sha256 or recorded_content(cache_file)):
        del tensors
        cache_file.unlink(missing_ok=True)
        raise DataError(
            f"{cache_file}: content does not match; removed it (the next load rebuilds it)"
        )
    return f"tensor cache: {cache_file} matches"
