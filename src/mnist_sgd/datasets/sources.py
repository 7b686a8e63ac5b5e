"""Where a dataset comes from: a local copy, the cache, a mirror, or the official URL.

``fetch`` fills the download cache, ``<cache>/downloads/``, which has a mirror's
layout (``mnist_sample.tgz``, ``mnist/<name>.gz``, ``fashion-mnist/<name>.gz``).
For each official file it tries, in order: a local copy holding that file name
(``DataOptions.path``), the cache, the mirror, the official URL; a source that
lacks the file passes to the next, any other failure stops with its error.
``find_local`` reads a user's local copy in place, whatever its shape
(archive, extracted folder, IDX folder, or a mirror-like folder of those).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import Tensor

from mnist_sgd.datasets.base import DEFAULT_OPTIONS, DataOptions
from mnist_sgd.datasets.checks import check_content, check_idx_payload, is_official
from mnist_sgd.datasets.download import SOURCE_HINT, NotFoundError, download
from mnist_sgd.datasets.extract import extract_archive
from mnist_sgd.datasets.folders import read_image_folder, read_png_archive
from mnist_sgd.datasets.idx import MAX_IDX_BYTES, idx_payload, read_idx_dataset
from mnist_sgd.datasets.layout import download_path
from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile, get_info
from mnist_sgd.errors import DataError

Tensors = dict[str, Tensor]


@dataclass(frozen=True)
class LocalCopy:
    """A dataset found on disk: an archive, an image-folder root, or a folder of IDX files."""

    kind: Literal["archive", "folder", "idx"]
    path: Path


def find_local(info: DatasetInfo, path: Path) -> LocalCopy:
    """Find ``info``'s data at ``path`` (see :class:`DataOptions`); ``DataError`` if absent."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (given as the local copy of {info.name})")
    if info.kind == "idx":
        for folder in (path, path / info.files[0].path.rsplit("/", 1)[0]):
            if all(_idx_file(folder, file) for file in info.files):
                return LocalCopy("idx", folder)
        names = ", ".join(file.name for file in info.files)
        raise DataError(f"{path}: expected a folder holding {names} (gzip'd or not)")
    if path.is_file():
        return LocalCopy("archive", path)
    for root in (path, path / str(info.archive_root)):
        if (root / info.train.source_name).is_dir():
            return LocalCopy("folder", root)
    if (path / info.files[0].path).is_file():
        return LocalCopy("archive", path / info.files[0].path)
    raise DataError(
        f"{path}: no {info.name} here; expected {info.files[0].path}, an extracted "
        f"{info.archive_root}/ folder, or {info.train.source_name}/ and {info.valid.source_name}/"
    )


def local_files(info: DatasetInfo, local: LocalCopy) -> list[Path]:
    """The files a local copy is read from: the archive, the IDX files, or the folder itself."""
    if local.kind != "idx":
        return [local.path]
    return [path for path in (_idx_file(local.path, file) for file in info.files) if path]


def _idx_file(folder: Path, file: RemoteFile) -> Path | None:
    """``folder/<name>.gz`` or ``folder/<name>`` (uncompressed), whichever exists."""
    for candidate in (folder / file.name, folder / file.name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_local(info: DatasetInfo, local: LocalCopy) -> Tensors:
    """Decode a local copy to tensors (their content is checked by the caller)."""
    if local.kind == "folder":
        return read_image_folder(info, local.path)
    if local.kind == "archive":
        return read_png_archive(info, local.path, str(local.path))

    def read(file: RemoteFile) -> tuple[Path, str]:
        found = _idx_file(local.path, file)
        assert found is not None, "find_local checked every file"
        return found, str(found)

    return read_idx_dataset(info, read)


@dataclass(frozen=True)
class Fetched:
    """The dataset's files in the cache, and its tensors when checking them decoded them."""

    paths: dict[str, Path]  # RemoteFile.path -> file in the cache
    tensors: Tensors | None = None


def fetch_files(info: DatasetInfo, options: DataOptions) -> Fetched:
    """Make sure every file of ``info`` is in the download cache, checked; see the module doc."""
    cache_dir = options.resolved_cache_dir()
    paths: dict[str, Path] = {}
    decoded: list[Tensors] = []
    for file in info.files:
        dest = paths[file.path] = download_path(cache_dir, file)
        if not dest.is_file():
            _obtain(info, file, dest, options, decoded.append)
    return Fetched(paths, decoded[0] if decoded else None)


def fetch(name: str, options: DataOptions = DEFAULT_OPTIONS, *, extract: bool = False) -> Path:
    """Download ``name`` into the cache unless it is there; return where it is.

    Returns:
        For an archive dataset the ``.tgz`` in the cache, or with ``extract`` the
        folder it unpacks to (``<cache>/extracted/mnist_sample/`` holding
        ``train/``, ``valid/``, ``labels.csv``: the book's ``path``); for an IDX
        dataset the folder holding its four ``.gz`` files (``extract`` is ignored).
    """
    from mnist_sgd.datasets.cache import remove_dead_temps

    info = get_info(name)
    remove_dead_temps(options.resolved_cache_dir())
    fetched = fetch_files(info, options)
    first = fetched.paths[info.files[0].path]
    if info.kind == "idx":
        return first.parent
    if not extract:
        return first
    dest = options.resolved_cache_dir() / "extracted" / info.name
    if not dest.is_dir():
        _extract(info, first, dest, options)
    return dest


def _extract(info: DatasetInfo, archive: Path, dest: Path, options: DataOptions) -> None:
    """Unpack the cached ``archive``; one that does not unpack is removed and fetched again once."""
    try:
        extract_archive(archive, dest, strip_root=info.archive_root)
    except DataError:
        archive.unlink(missing_ok=True)
        fetch_files(info, options)
        extract_archive(archive, dest, strip_root=info.archive_root)


def _obtain(
    info: DatasetInfo,
    file: RemoteFile,
    dest: Path,
    options: DataOptions,
    keep: Callable[[Tensors], None],
) -> None:
    """Copy or download ``file`` to ``dest`` from the first source that has it."""
    tried: list[str] = []
    forbidden: list[str] = []
    for url in candidate_urls(file, options, sole=len(info.files) == 1):
        if options.offline and urllib.parse.urlsplit(url).scheme != "file":
            forbidden.append(url)
            continue
        try:
            download(
                url,
                dest,
                check=_checker(info, file, url, keep),
                what=file.path,
                progress=options.progress,
                size_hint=file.size,
            )
            return
        except NotFoundError:
            tried.append(url)
    raise _not_found(info, file, dest, tried, forbidden)


def _checker(
    info: DatasetInfo, file: RemoteFile, url: str, keep: Callable[[Tensors], None]
) -> Callable[[bytes], None]:
    """``download``'s check of the body from ``url``: refuse a bad one, keep decoded tensors."""

    def check(body: bytes) -> None:
        tensors = check_download(info, file, body, url)
        if tensors is not None:
            keep(tensors)

    return check


def _not_found(
    info: DatasetInfo, file: RemoteFile, dest: Path, tried: list[str], forbidden: list[str]
) -> DataError:
    """The error when no source had ``file``: where it looked, and what to do."""
    where = f"{info.name}: {file.path} is not in the cache ({dest.parent})"
    if forbidden:
        return DataError(
            f"{where} and offline mode forbids downloading {forbidden[0]}; {SOURCE_HINT}"
        )
    return DataError(f"{where} nor at {', '.join(tried)}; {SOURCE_HINT}")


def candidate_urls(file: RemoteFile, options: DataOptions, *, sole: bool = False) -> list[str]:
    """The places to get ``file`` from, in order: local copy, mirror, official URL.

    With ``sole`` (``file`` is the dataset's only file, an archive), a local
    copy given as a file is used whatever its name, as ``train`` reads it.
    """
    urls = []
    if options.path is not None:
        path = Path(options.path).expanduser().resolve()
        for candidate in (path, path / file.path, path / file.name):
            if candidate.is_file() and (
                candidate.name == file.name or (sole and candidate == path)
            ):
                urls.append(candidate.as_uri())
                break
    if options.mirror:
        urls.append(mirror_url(options.mirror, file))
    urls.append(file.url)
    return urls


def mirror_url(mirror: str, file: RemoteFile) -> str:
    """``file``'s URL on ``mirror``: a base URL (http, https, file) or a folder."""
    if "://" not in mirror:
        return Path(mirror).expanduser().resolve().as_uri() + "/" + file.path
    scheme = urllib.parse.urlsplit(mirror).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"mirror must be an http, https or file URL or a folder, got {mirror!r}")
    return mirror.rstrip("/") + "/" + file.path


def check_download(info: DatasetInfo, file: RemoteFile, body: bytes, where: str) -> Tensors | None:
    """Accept the official bytes or a faithful re-pack; return tensors if it decoded them.

    Raises:
        DataError: a checksum or content mismatch (the body is then not kept).
    """
    if is_official(file, body):
        return None
    if info.kind == "idx":
        limit = file.payload_size or MAX_IDX_BYTES
        check_idx_payload(file, idx_payload(body, where, limit=limit), where)
        return None
    tensors = read_png_archive(info, body, where)
    check_content(info, tensors, where)
    return tensors
