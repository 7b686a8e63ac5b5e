"""What the cache holds for a dataset: downloads, the extracted folder, the tensor cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_sgd.datasets.base import DEFAULT_OPTIONS, DataOptions
from mnist_sgd.datasets.layout import download_path, tensor_cache_path
from mnist_sgd.datasets.registry import get_info


@dataclass(frozen=True)
class CacheStatus:
    """Where a dataset's files live in the cache, and which of them exist."""

    name: str
    cache_dir: Path
    downloads: tuple[tuple[Path, bool], ...]  # (file, present)
    extracted: Path | None  # the unpacked folder, when there is one
    tensor_cache: Path
    tensor_cache_present: bool

    @property
    def fetched(self) -> bool:
        """True when every download is in the cache."""
        return all(present for _, present in self.downloads)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "cache_dir": str(self.cache_dir),
            "downloads": {str(path): present for path, present in self.downloads},
            "fetched": self.fetched,
            "extracted": str(self.extracted) if self.extracted else None,
            "tensor_cache": str(self.tensor_cache),
            "tensor_cache_present": self.tensor_cache_present,
        }


def cache_status(name: str, options: DataOptions = DEFAULT_OPTIONS) -> CacheStatus:
    """Look (without reading or downloading anything) at what the cache holds for ``name``."""
    info = get_info(name)
    cache_dir = options.resolved_cache_dir()
    downloads = tuple(
        (path, path.is_file()) for path in (download_path(cache_dir, f) for f in info.files)
    )
    extracted = cache_dir / "extracted" / info.name
    tensors = tensor_cache_path(cache_dir, info)
    return CacheStatus(
        name=info.name,
        cache_dir=cache_dir,
        downloads=downloads,
        extracted=extracted if extracted.is_dir() else None,
        tensor_cache=tensors,
        tensor_cache_present=tensors.is_file(),
    )
