"""The datasets mnist-sgd knows by name: where they live, what they hold, their checksums.

Book section: "Pixels: the foundations of computer vision" (MNIST_SAMPLE), and
the full MNIST and Fashion-MNIST the chapter's further research points to.

Every dataset has two splits, ``train`` and ``valid`` (for MNIST and
Fashion-MNIST ``valid`` is the official 10,000-image test set). Three kinds of
checksum guard it:

- the official bytes (size and MD5 of each download), accepted as they are;
- the payload of each IDX file (SHA-256 or MD5 of the decompressed bytes), so a
  re-compressed mirror is accepted too;
- the content: SHA-256 of the decoded tensors in canonical order (see
  :func:`mnist_sgd.datasets.cache.content_digest`), so a re-packed archive or an
  extracted folder is accepted when it holds exactly the same pixels and labels.

A figure nobody has published, and that cannot be measured without the files
(Kuzushiji-MNIST's and QMNIST's byte sizes, QMNIST's images per class, both
sets' content digests), is ``None``, never a guess. Such a set is checked by the
publisher's MD5 of each download; only the official files are accepted (there
is no payload digest to check a re-pack against); its content digest is recorded
in the tensor cache on the first load and checked by ``verify`` afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

DatasetKind = Literal["png_archive", "idx"]
ImageOrder = Literal["sorted", "index"]


@dataclass(frozen=True)
class RemoteFile:
    """One file as its publisher serves it.

    ``path`` is the file's place in a mirror (``mnist_sample.tgz``,
    ``mnist/train-images-idx3-ubyte.gz``); the download cache uses the same layout.
    """

    path: str
    url: str
    size: int | None  # None: not published (the MD5 alone checks the file)
    md5: str
    payload_size: int | None = None  # IDX: bytes once decompressed
    payload_sha256: str | None = None
    payload_md5: str | None = None

    @property
    def name(self) -> str:
        """The file name without its mirror folder."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Split:
    """One split: its name here, its name in the publisher's layout, images per class.

    ``class_counts`` is None where the publisher gives only the total (``images``).
    """

    name: Literal["train", "valid"]
    source_name: str  # archive folder ("train", "training") or IDX prefix ("train", "t10k")
    class_counts: tuple[int, ...] | None
    images: int | None = None  # the total, when class_counts is None

    def __post_init__(self) -> None:
        if (self.class_counts is None) == (self.images is None):
            raise ValueError(f"split {self.name}: give class_counts or images, one of them")

    @property
    def size(self) -> int:
        """Number of images in the split."""
        if self.class_counts is None:
            assert self.images is not None, "checked in __post_init__"
            return self.images
        return sum(self.class_counts)


@dataclass(frozen=True)
class DatasetInfo:
    """Everything known about a dataset before touching it."""

    name: str
    title: str
    kind: DatasetKind
    classes: tuple[str, ...]
    splits: tuple[Split, Split]
    files: tuple[RemoteFile, ...]
    content_sha256: str | None  # None: not published; recorded on the first load (module doc)
    order: ImageOrder = "index"  # "sorted": file-name order (fastai's ls().sorted())
    archive_root: str | None = None  # the folder an archive unpacks into
    homepage: str = ""
    licence: str = ""
    label_column: int | None = None  # IDX labels of rank 2 (QMNIST): the column holding the class

    @property
    def train(self) -> Split:
        """The training split."""
        return self.splits[0]

    @property
    def valid(self) -> Split:
        """The validation split (the official test set for MNIST and Fashion-MNIST)."""
        return self.splits[1]

    @property
    def download_size(self) -> int | None:
        """Bytes of the official download(s); None when a file's size is not published."""
        sizes = [file.size for file in self.files]
        return None if None in sizes else sum(size for size in sizes if size is not None)

    @property
    def cache_key(self) -> str:
        """What names the tensor cache: the content digest, else the official files' MD5s."""
        if self.content_sha256 is not None:
            return self.content_sha256[:16]
        md5s = " ".join(file.md5 for file in self.files)
        return "md5-" + hashlib.sha256(md5s.encode()).hexdigest()[:12]


_MNIST_LICENCE = "MNIST by Yann LeCun and Corinna Cortes, CC BY-SA 3.0"
_DIGITS = tuple(str(digit) for digit in range(10))
_MNIST_TRAIN = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
_MNIST_TEST = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
_FASHION_CLASSES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
_FASHION_CLASSES += ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Canonical content of MNIST in IDX order; mnist_png decodes to the same tensors.
_MNIST_CONTENT = "ce791df7f1659ca2fa10bb43196ad872a9bbb710bd5713e4030efe77cf3201e1"
_IDX_NAMES = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
_IDX_PAYLOAD_SIZES = (47040016, 60008, 7840016, 10008)
_IDX_FILE_NAMES = tuple(f"{stem}-ubyte.gz" for stem in _IDX_NAMES)


def _idx_files(
    folder: str,
    base_url: str,
    sizes: tuple[int | None, ...],
    md5s: str,
    payload_digests: str | None,
    *,
    names: tuple[str, ...] = _IDX_FILE_NAMES,
    payload_sizes: tuple[int, ...] = _IDX_PAYLOAD_SIZES,
) -> tuple[RemoteFile, ...]:
    """The four IDX files: official sizes, MD5s, and the payload digests (64 hex: SHA-256)."""
    digests = payload_digests.split() if payload_digests else [""] * len(names)
    files = []
    for i, (name, md5, digest) in enumerate(zip(names, md5s.split(), digests, strict=True)):
        files.append(
            RemoteFile(
                path=f"{folder}/{name}",
                url=f"{base_url}{name}",
                size=sizes[i],
                md5=md5,
                payload_size=payload_sizes[i],
                payload_sha256=digest if len(digest) == 64 else None,
                payload_md5=digest if len(digest) == 32 else None,
            )
        )
    return tuple(files)


# In the order of _IDX_NAMES. Payload digests: the data README (decompressed bytes).
_MNIST_FILES = _idx_files(
    "mnist",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    (9912422, 28881, 1648877, 4542),
    """f68b3c2dcbeaaa9fbdd348bbdeb94873 d53e105ee54ea40749a09fcbcd1e9432
       9fb629c4189551a2d022fa330f9573f3 ec29112dd5afa0611ce80d1b7f02629c""",
    """ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
       65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
       0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
       ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2""",
)
_FASHION_FILES = _idx_files(
    "fashion-mnist",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    (26421880, 29515, 4422102, 5148),
    """8d4fb7e6c68d591d4c3dfef9ec88bf0d 25c81989df183df01b3e8a0aad5dffbe
       bef4ecab320f06d8554ea6380940ec79 bb300cfdad3c16e7a12a480ee83cd310""",
    """f4a8712d7a061bf5bd6d2ca38dc4d50a 9018921c3c673c538a1fc5bad174d6f9
       8181f5470baa50b63fa0f6fddb340f0a 15d484375f8d13e6eb1aabb0c3f46965""",
)

# Kuzushiji-MNIST and QMNIST: URLs and MD5s as torchvision's datasets/mnist.py lists them.
# Neither publisher gives byte sizes or digests of the decompressed data; the payload sizes
# follow from the IDX format (16 header bytes + 28*28 per image; 8 + 1 per label; QMNIST's
# labels: 12 header bytes + 8 int32 columns per image).
_KMNIST_FILES = _idx_files(
    "kmnist",
    "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    (None,) * 4,
    """bdb82020997e1d708af4cf47b453dcf7 e144d726b3acfaa3e44228e80efcd344
       5c965bf0a639b31b8f53240b1b52f4d7 7320c461ea6c1c855c0b718fb2a4b134""",
    None,
)
_KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
_QMNIST_NAMES = tuple(
    f"qmnist-{split}-{kind}.gz"
    for split in ("train", "test")
    for kind in ("images-idx3-ubyte", "labels-idx2-int")
)
_QMNIST_FILES = _idx_files(
    "qmnist",
    "https://raw.githubusercontent.com/facebookresearch/qmnist/master/",
    (None,) * 4,
    """ed72d4157d28c017586c42bc6afe6370 0058f8dd561b90ffdd0f734c6a30e5e4
       1394631089c404de565df7b7aeaf9412 5b5b05890a5e13444e108efe57b788aa""",
    None,
    names=_QMNIST_NAMES,
    payload_sizes=(47040016, 12 + 60000 * 8 * 4, 47040016, 12 + 60000 * 8 * 4),
)

_ALL = (
    DatasetInfo(
        name="mnist_sample",
        title="MNIST_SAMPLE: every 3 and 7 of MNIST (fastai)",
        kind="png_archive",
        classes=("3", "7"),
        splits=(Split("train", "train", (6131, 6265)), Split("valid", "valid", (1010, 1028))),
        files=(
            RemoteFile(
                path="mnist_sample.tgz",
                url="https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
                size=3214948,
                md5="2dbc7ec6f9259b583af0072c55816a88",
            ),
        ),
        content_sha256="eddb4e383a65aeea35bbcd364a48c066e7c6607620a565a6f41916d6a626462a",
        order="sorted",
        archive_root="mnist_sample",
        homepage="https://course.fast.ai/datasets",
        licence=_MNIST_LICENCE,
    ),
    DatasetInfo(
        name="mnist",
        title="MNIST: 70,000 handwritten digits, IDX files",
        kind="idx",
        classes=_DIGITS,
        splits=(Split("train", "train", _MNIST_TRAIN), Split("valid", "t10k", _MNIST_TEST)),
        files=_MNIST_FILES,
        content_sha256=_MNIST_CONTENT,
        homepage="http://yann.lecun.com/exdb/mnist/",
        licence=_MNIST_LICENCE,
    ),
    DatasetInfo(
        name="mnist_png",
        title="MNIST as PNG folders (fastai)",
        kind="png_archive",
        classes=_DIGITS,
        splits=(Split("train", "training", _MNIST_TRAIN), Split("valid", "testing", _MNIST_TEST)),
        files=(
            RemoteFile(
                path="mnist_png.tgz",
                url="https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz",
                size=15683414,
                md5="03639f83c4e3d19e0a3a53a8a997c487",
            ),
        ),
        content_sha256=_MNIST_CONTENT,
        order="index",
        archive_root="mnist_png",
        homepage="https://course.fast.ai/datasets",
        licence=_MNIST_LICENCE,
    ),
    DatasetInfo(
        name="fashion_mnist",
        title="Fashion-MNIST: 70,000 Zalando article images, IDX files",
        kind="idx",
        classes=_FASHION_CLASSES,
        splits=(Split("train", "train", (6000,) * 10), Split("valid", "t10k", (1000,) * 10)),
        files=_FASHION_FILES,
        content_sha256="93aa4e59b1aacdb231e23b354bbf7d3a4e87218c10ead8c0f71acba4d8e6dce4",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        licence="Fashion-MNIST by Zalando Research, MIT",
    ),
    DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST: 70,000 cursive hiragana, お き す つ な は ま や れ を, IDX files",
        kind="idx",
        classes=_KMNIST_CLASSES,
        # "perfectly balanced like the original MNIST dataset (6k/1k train/test for each class)"
        splits=(Split("train", "train", (6000,) * 10), Split("valid", "t10k", (1000,) * 10)),
        files=_KMNIST_FILES,
        content_sha256=None,
        homepage="https://github.com/rois-codh/kmnist",
        licence="Kuzushiji-MNIST by ROIS-DS CODH (Clanuwat et al. 2018), CC BY-SA 4.0",
    ),
    DatasetInfo(
        name="qmnist",
        title="QMNIST: MNIST's digits rebuilt from NIST, 60,000 train and 60,000 test, IDX files",
        kind="idx",
        classes=_DIGITS,
        splits=(
            Split("train", "qmnist-train", None, images=60000),
            Split("valid", "qmnist-test", None, images=60000),
        ),
        files=_QMNIST_FILES,
        content_sha256=None,
        homepage="https://github.com/facebookresearch/qmnist",
        licence="QMNIST by Facebook AI Research (Yadav and Bottou 2019), BSD",
        label_column=0,
    ),
)

DATASETS: Mapping[str, DatasetInfo] = MappingProxyType({info.name: info for info in _ALL})


def is_dataset_path(name: str) -> bool:
    """True when ``name`` is a user's set given by its path, not a registry name.

    A path holds a ``/`` (or the OS's separator), ends in ``.csv``, or exists; a
    registry name always wins.
    """
    if name in DATASETS:
        return False
    return "/" in name or os.sep in name or name.lower().endswith(".csv") or Path(name).exists()


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        valid = ", ".join(DATASETS)
        raise ValueError(
            f"unknown dataset {name!r}; choose one of: {valid}, or give a path "
            "(a folder of class folders, a Kaggle CSV, a folder of IDX files)"
        ) from None
