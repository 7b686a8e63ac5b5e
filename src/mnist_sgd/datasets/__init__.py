"""Datasets: MNIST_SAMPLE, MNIST (IDX and PNG) and Fashion-MNIST as stacked tensors.

Book section: "Pixels: the foundations of computer vision".

>>> from mnist_sgd.datasets import load_dataset
>>> data = load_dataset("mnist_sample")  # doctest: +SKIP
>>> data.train_images.shape, data.classes  # doctest: +SKIP
(torch.Size([12396, 28, 28]), ('3', '7'))

Modules: ``registry`` (names, URLs, checksums), ``sources`` (local copy, cache, mirror,
URL), ``download``, ``extract``, ``archive`` (tar and gzip through ``tarfile``,
decompressed through a cap), ``idx`` and ``folders`` (the readers), ``decode`` (Pillow,
over all cores, while an archive is still read), ``checks``, ``cache`` (the tensor
cache), ``layout`` (where files live in the cache), ``status``, ``load``
(``load_dataset``, ``verify``). The names below are lazy (see ``mnist_sgd``'s import
policy): ``DATASETS`` and ``cache_status`` come without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnist_sgd.lazy import lazy_exports

_EXPORTS = {
    "DataOptions": "mnist_sgd.datasets.base",
    "MnistData": "mnist_sgd.datasets.base",
    "content_digest": "mnist_sgd.datasets.cache",
    "extract_archive": "mnist_sgd.datasets.extract",
    "read_idx": "mnist_sgd.datasets.idx",
    "VerifyReport": "mnist_sgd.datasets.load",
    "load_dataset": "mnist_sgd.datasets.load",
    "verify": "mnist_sgd.datasets.load",
    "DATASETS": "mnist_sgd.datasets.registry",
    "DatasetInfo": "mnist_sgd.datasets.registry",
    "RemoteFile": "mnist_sgd.datasets.registry",
    "Split": "mnist_sgd.datasets.registry",
    "get_info": "mnist_sgd.datasets.registry",
    "fetch": "mnist_sgd.datasets.sources",
    "CacheStatus": "mnist_sgd.datasets.status",
    "cache_status": "mnist_sgd.datasets.status",
}
lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
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
