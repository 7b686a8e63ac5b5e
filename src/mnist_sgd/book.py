"""``from mnist_sgd.book import *``: what fastbook chapter 4 has in scope before its code starts.

In place of fastbook's ``from fastai.vision.all import *`` and ``from fastbook import *``,
the names the chapter uses, each doing what the chapter asks of it:

- modules: ``torch``, ``nn``, ``F``, ``matplotlib``, ``plt``, ``np``, ``pd`` (pandas, from the
  ``[notebook]`` extra), ``string``; ``array`` (NumPy's), ``Image`` (PIL's), ``Path`` with
  ``.ls()`` returning an ``L`` and fastcore's ``Path('train')`` repr (both patched on as
  fastcore does; :mod:`mnist_sgd.foundation`);
- data: ``URLs.MNIST_SAMPLE`` and ``untar_data`` (through the data layer: cache, mirror,
  checksums, honouring ``MNIST_SGD_MIRROR`` and ``MNIST_SGD_CACHE``), ``first``, ``tensor``,
  ``to_np``, ``DataLoader``, ``DataLoaders``;
- training: ``Learner`` (``fit`` and ``fit_one_cycle`` show their table in Jupyter and return
  ``None``, as fastai's: the history is ``learn.recorder.values``), ``SGD``, ``accuracy``;
- pictures: ``show_image``, ``plot_function``, ``gv``; for after the chapter, fastai's
  ``Interpretation`` (``ClassificationInterpretation``) and ``load_learner``.

Also already loaded, for the seed's notes that skip those cells: ``path`` (MNIST_SAMPLE
unpacked), ``threes``/``sevens`` (the training files, sorted), ``three_tensors``/
``seven_tensors`` (one ``(28, 28) uint8`` tensor per file), ``stacked_threes``/
``stacked_sevens`` (``(n, 28, 28)`` float in [0, 1]) and ``valid_3_tens``/``valid_7_tens``,
from the data layer's tensor cache (in the sorted files' order), so the import takes about a
second. The chapter's own functions (``init_params``, ``linear1``, ``mnist_loss``, ...) are
not here: the reader writes them. Not here either: ``ImageDataLoaders``, ``vision_learner``
and ``resnet18`` (the chapter's last cell): torchvision's wheels on PyPI are built against
CUDA torch and do not load beside the CPU wheel this project pins.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from numpy import array
from PIL import Image
from torch import Tensor, nn

from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.metrics import accuracy
from mnist_sgd.core.optim import SGD
from mnist_sgd.datasets import DataOptions, MnistData, fetch, load_dataset
from mnist_sgd.datasets.base import CACHE_ENV, MIRROR_ENV
from mnist_sgd.datasets.registry import DATASETS, get_info
from mnist_sgd.foundation import L, MissingModule, first, gv, ls, path_repr, tensor, to_np
from mnist_sgd.pictures.interpret import Interpretation
from mnist_sgd.pictures.show import plot_function, show_image
from mnist_sgd.runs.export import load_learner
from mnist_sgd.verbs import Learner as _Learner
from mnist_sgd.verbs import fit_one_cycle as _fit_one_cycle

try:
    import pandas as pd
except ImportError:  # the [notebook] extra brings it; say so where the chapter reaches for it
    pd = MissingModule("pandas", "pip install 'mnist-sgd[notebook]'")

# fastcore patches both on the same way: path.ls(), and Path('valid') once Path.BASE_PATH is set
Path.ls = ls  # type: ignore[attr-defined]
Path.__repr__ = path_repr  # type: ignore[method-assign,assignment]


class Learner(_Learner):
    """The library's ``Learner`` as fastai's behaves in a notebook: ``fit`` and ``fit_one_cycle``
    show the epoch table (in Jupyter) and return ``None``; the history is ``learn.recorder``."""

    # fastai's fit returns None: the override narrows the library's return on purpose
    def fit(self, n_epoch: int, lr: float = 1.0, *, resume: bool = False) -> None:  # type: ignore[override]
        super().fit(n_epoch, lr, resume=resume)

    def fit_one_cycle(self, n_epoch: int, lr_max: float = 1e-3) -> None:
        _fit_one_cycle(self, n_epoch, lr_max)


class URLs:
    """fastai's ``URLs``, for the one dataset chapter 4 downloads."""

    MNIST_SAMPLE = get_info("mnist_sample").files[0].url


def untar_data(url: str) -> Path:
    """fastai's ``untar_data``: the archive at ``url`` fetched (or found in the cache or the
    mirror), checked and unpacked by the data layer; returns the folder it unpacks to."""
    archives = {f.url: i.name for i in DATASETS.values() if i.archive_root for f in i.files}
    if url not in archives:
        raise ValueError(f"untar_data knows {', '.join(archives)}; got {url!r}")
    return fetch(archives[url], _options, extract=True)  # the environment as read on import


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
    "Image",
    "Interpretation",
    "L",
    "Learner",
    "Path",
    "URLs",
    "accuracy",
    "array",
    "first",
    "gv",
    "load_learner",
    "matplotlib",
    "nn",
    "np",
    "path",
    "pd",
    "plot_function",
    "plt",
    "seven_tensors",
    "sevens",
    "show_image",
    "stacked_sevens",
    "stacked_threes",
    "string",
    "tensor",
    "three_tensors",
    "threes",
    "to_np",
    "torch",
    "untar_data",
    "valid_3_tens",
    "valid_7_tens",
]
