"""What goes into the data layer (:class:`DataOptions`) and what comes out (:class:`MnistData`).

Book section: "Pixels: the foundations of computer vision": the images are kept
stacked as the chapter stacks them, one rank-3 tensor per split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from torch import Tensor

Progress = Callable[[str, int, int | None], None]
"""``progress(what, done_bytes, total_bytes or None)``, called as bytes arrive."""


# Where the front ends (the CLI, ``mnist_sgd.book``) read a cache folder and a mirror from;
# the library itself takes them as ``DataOptions``.
CACHE_ENV = "MNIST_SGD_CACHE"
MIRROR_ENV = "MNIST_SGD_MIRROR"


@dataclass(frozen=True)
class DataOptions:
    """Where a dataset may come from, in this order: ``path``, the cache, ``mirror``, the URL.

    Args:
        path: an explicit local copy, read in place: an archive (``mnist_sample.tgz``),
            an extracted folder (``mnist_sample/`` with ``train/`` and ``valid/``), a
            folder holding the IDX files, or a mirror-like folder holding any of these.
        cache_dir: where downloads, extracted folders and tensor caches live;
            ``None`` means ``platformdirs.user_cache_dir("mnist-sgd")``.
        mirror: a base URL (``http``, ``https`` or ``file``) or a folder holding the
            official file names (``mnist_sample.tgz``, ``mnist/<name>.gz``,
            ``fashion-mnist/<name>.gz``); used instead of the official URLs.
        offline: forbid the network (a folder or ``file://`` mirror is still used).
        progress: called with ``(what, done_bytes, total_bytes or None)`` during downloads.
        valid_pct: a user's set without a validation split (``load_dataset`` of a path)
            keeps this share of its items for validation, chosen by ``split_seed``.
    """

    path: Path | None = None
    cache_dir: Path | None = None
    mirror: str | None = None
    offline: bool = False
    progress: Progress | None = None
    valid_pct: float = 0.2
    split_seed: int = 42

    def resolved_cache_dir(self) -> Path:
        """The cache folder these options point at (not created here)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        return Path(platformdirs.user_cache_dir("mnist-sgd"))


@dataclass(frozen=True, eq=False)  # tensors have no single truth value to compare
class MnistData:
    """A dataset as stacked tensors, white ink on black.

    Attributes:
        name: the registry name (``"mnist_sample"``).
        classes: class names; a label is an index into this tuple
            (MNIST_SAMPLE: ``("3", "7")``, so label 0 is a 3 and 1 is a 7).
        train_images: ``(n_train, 28, 28) uint8``, 0 = background.
        train_labels: ``(n_train,) int64`` indices into ``classes``.
        valid_images: ``(n_valid, 28, 28) uint8`` (MNIST_SAMPLE's ``valid/``; the
            official 10,000-image test set for the other datasets).
        valid_labels: ``(n_valid,) int64``.
        source: a user's set: the path it was read from ("" for a registry name).
        digest: a user's set: SHA-256 of its decoded pixels and labels ("": the registry's).
        valid_pct, split_seed: a user's set split here (``DataOptions``); None: its own split.
    """

    name: str
    classes: tuple[str, ...]
    train_images: Tensor
    train_labels: Tensor
    valid_images: Tensor
    valid_labels: Tensor
    source: str = ""
    digest: str = ""
    valid_pct: float | None = None
    split_seed: int | None = None

    def head(self, n_train: int, n_valid: int | None = None) -> MnistData:
        """The first ``n_train`` training and ``n_valid`` (default ``n_train``) validation items."""
        n_valid = n_train if n_valid is None else n_valid
        return replace(
            self,
            train_images=self.train_images[:n_train],
            train_labels=self.train_labels[:n_train],
            valid_images=self.valid_images[:n_valid],
            valid_labels=self.valid_labels[:n_valid],
        )

    def spread(self, n: int) -> MnistData:
        """``n`` items of each split, evenly spaced through it (``train --dry-run``).

        A split sorted by class (MNIST_SAMPLE's are: every 3, then every 7) keeps all its
        classes, where :meth:`head` would keep only the first.
        """
        import torch

        def picks(count: int) -> torch.Tensor:
            return torch.linspace(0, count - 1, min(n, count)).round().long()

        train, valid = picks(len(self.train_labels)), picks(len(self.valid_labels))
        return replace(
            self,
            train_images=self.train_images[train],
            train_labels=self.train_labels[train],
            valid_images=self.valid_images[valid],
            valid_labels=self.valid_labels[valid],
        )

    def sizes_line(self) -> str:
        """What was loaded, in one line: ``train.csv: 800 train, 200 valid images (split: 0.2
        by seed 42)`` (a user's set by its path; a registry's by its name, split its own)."""
        split = (
            "its own" if self.valid_pct is None else f"{self.valid_pct:g} by seed {self.split_seed}"
        )
        return (
            f"{self.source or self.name}: {len(self.train_labels)} train, "
            f"{len(self.valid_labels)} valid images (split: {split})"
        )

    def __repr__(self) -> str:
        return (
            f"MnistData(name={self.name!r}, classes={self.classes!r}, "
            f"train={tuple(self.train_images.shape)}, valid={tuple(self.valid_images.shape)})"
        )


DEFAULT_OPTIONS = DataOptions()
"""The defaults: the user cache folder, official URLs, network allowed."""

TENSOR_NAMES = ("train_images", "train_labels", "valid_images", "valid_labels")
"""The four tensors of a dataset, in canonical order."""
