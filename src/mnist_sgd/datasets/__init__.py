"""Datasets: MNIST_SAMPLE, MNIST (IDX and PNG) and Fashion-MNIST as stacked tensors.

Book section: "Pixels: the foundations of computer vision".

>>> from mnist_sgd.datasets import load_dataset
>>> data = load_dataset("mnist_sample")  # doctest: +SKIP
>>> data.train_images.shape, data.classes  # doctest: +SKIP
(torch.Size([12396, 28, 28]), ('3', '7'))

Modules: ``registry`` (names, URLs, checksums), ``sources`` (local copy,
cache, mirror, URL), ``download``, ``extract``, ``archive`` (tar and gzip
through ``tarfile``, streamed and capped), ``idx`` and ``folders`` (the
readers), ``decode`` (Pillow, over all cores), ``checks``, ``cache`` (the
tensor cache), ``load`` (``load_dataset``, ``verify``).
"""

from mnist_sgd.datasets.base import DataOptions, MnistData
from mnist_sgd.datasets.cache import content_digest
from mnist_sgd.datasets.extract import extract_archive
from mnist_sgd.datasets.idx import read_idx
from mnist_sgd.datasets.load import VerifyReport, load_dataset, verify
from mnist_sgd.datasets.registry import DATASETS, DatasetInfo, RemoteFile, Split, get_info
from mnist_sgd.datasets.sources import fetch
from mnist_sgd.datasets.status import CacheStatus, cache_status

__all__ = [
    "DATASETS",
    "CacheStatus",
    "DataOptions",
    "DatasetInfo",
    "MnistData",
    "RemoteFile",
    "Split",
    "VerifyReport",
    "cache_status",
    "content_digest",
    "extract_archive",
    "fetch",
    "get_info",
    "load_dataset",
    "read_idx",
    "verify",
]
