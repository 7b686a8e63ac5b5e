"""Where a dataset's files live in the cache folder (torch-free, for ``mnist-sgd data list``)."""

from __future__ import annotations

from pathlib import Path

from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile

FORMAT_VERSION = 1  # of the tensor cache: bump when the layout or the canonical order changes


def download_path(cache_dir: Path, file: RemoteFile) -> Path:
    """Where ``file`` lives in the download cache (a mirror's layout)."""
    return cache_dir / "downloads" / file.path


def tensor_cache_path(cache_dir: Path, info: DatasetInfo) -> Path:
    """Where ``info``'s decoded tensors live in ``cache_dir``."""
    return cache_dir / "tensors" / f"{info.name}-{info.cache_key}.v{FORMAT_VERSION}.safetensors"
