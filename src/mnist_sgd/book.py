"""``from mnist_sgd.book import *``: what fastbook chapter 4 has in scope before its code starts.

Like fastbook's ``from fastbook import *`` followed by the chapter's first
cells: ``path`` (MNIST_SAMPLE, fetched and unpacked through the data layer,
honouring ``MNIST_SGD_MIRROR`` and ``MNIST_SGD_CACHE``), ``threes``/``sevens``
(the training files, sorted), ``three_tensors``/``seven_tensors`` (one
``(28, 28) uint8`` tensor per file), ``stacked_threes``/``stacked_sevens``
(``(n, 28, 28)`` float in [0, 1]) and ``valid_3_tens``/``valid_7_tens``, plus
``torch``, ``tensor``, ``nn``, ``F``, ``plt``, ``first``, the library's
``DataLoader``, ``DataLoaders``, ``Learner``, ``SGD`` and the drawing helpers
``show_image`` and ``plot_function``; and, for after the chapter, fastai's
``Interpretation`` (``ClassificationInterpretation``) and ``load_learner``.

The chapter's own functions (``init_params``, ``linear1``, ``mnist_loss``,
``batch_accuracy``, ...) are not here: the reader writes them. The pixels come
from the data layer's tensor cache (decoded once per machine), in the same
order as the sorted file lists, so a later import takes well under a second.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn, tensor

from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.optim import SGD
from mnist_sgd.datasets import DataOptions, MnistData, fetch, load_dataset
from mnist_sgd.datasets.base import CACHE_ENV, MIRROR_ENV
from mnist_sgd.pictures.interpret import Interpretation
from mnist_sgd.pictures.show import plot_function, show_image
from mnist_sgd.runs.export import load_learner
from mnist_sgd.verbs import Learner


def first(items: Iterable[Any]) -> Any:
    """The first item of ``items`` (fastcore's ``first``): ``xb, yb = first(dl)``."""
    return next(iter(items), None)


def book_options() -> DataOptions:
    """Where the data comes from: the environment's cache and mirror, else the defaults."""
    cache = os.environ.get(CACHE_ENV)
    return DataOptions(
        cache_dir=Path(cache) if cache else None, mirror=os.environ.get(MIRROR_ENV) or None
    )


def digit_files(root: Path, split: str, digit: str) -> list[Path]:
    """``(root/split/digit).ls().sorted()``: the image files of one class, sorted by name."""
    return sorted(p for p in (root / split / digit).iterdir() if not p.name.startswith("."))


def class_images(data: MnistData, split: str, digit: str) -> Tensor:
    """``(n, 28, 28) uint8``: the images of ``digit`` in ``split``, in sorted file order."""
    images = getattr(data, f"{split}_images")
    labels = getattr(data, f"{split}_labels")
    return images[labels == data.classes.index(digit)]


_options = book_options()
path: Path = fetch("mnist_sample", _options, extract=True)
_data = load_dataset("mnist_sample", _options)
threes, sevens = digit_files(path, "train", "3"), digit_files(path, "train", "7")
_train_3, _train_7 = class_images(_data, "train", "3"), class_images(_data, "train", "7")
three_tensors: list[Tensor] = list(_train_3.unbind(0))
seven_tensors: list[Tensor] = list(_train_7.unbind(0))
stacked_threes = _train_3.float() / 255  # = torch.stack(three_tensors).float()/255, 20x sooner
stacked_sevens = _train_7.float() / 255
valid_3_tens = class_images(_data, "valid", "3").float() / 255
valid_7_tens = class_images(_data, "valid", "7").float() / 255
if (len(threes), len(sevens)) != (len(three_tensors), len(seven_tensors)):
    raise RuntimeError(f"{path}: the image files do not match the cached tensors")

__all__ = [
    "SGD",
    "DataLoader",
    "DataLoaders",
    "F",
    "Interpretation",
    "Learner",
    "Path",
    "first",
    "load_learner",
    "nn",
    "path",
    "plot_function",
    "plt",
    "seven_tensors",
    "sevens",
    "show_image",
    "stacked_sevens",
    "stacked_threes",
    "tensor",
    "three_tensors",
    "threes",
    "torch",
    "valid_3_tens",
    "valid_7_tens",
]
