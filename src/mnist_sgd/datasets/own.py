"""A user's own dataset, given by its path: class folders, a Kaggle CSV, or IDX files.

Book section: "Pixels: the foundations of computer vision": the chapter's
``path/'train'/'3'`` layout, for any classes. Three forms are read:

- a folder of class folders (fastai's ``ImageDataLoaders.from_folder``), split
  (``train/`` and ``valid/``, or ``training/`` and ``testing/``) or not; the
  class names are the folder names in natural order (``2`` before ``10``);
- a CSV in Kaggle's layout (:mod:`mnist_sgd.datasets.kaggle_csv`);
- a folder of IDX files (``<prefix>-images-idx3-ubyte[.gz]`` and
  ``<prefix>-labels-idx1-ubyte[.gz]``; ``train*`` is the training split),
  classes ``0..n-1`` or one per line of a ``classes.txt`` beside them; EMNIST's
  files (``emnist-digits-train-...``) hold each image transposed, as torchvision
  notes, and are turned upright.

A set without a validation split gets one as fastai's ``RandomSplitter`` makes
it: ``valid_pct`` of the items, chosen by a seeded permutation, the same on
every load. The decoded, split set is written once to the tensor cache, keyed by
the source's fingerprint (every file's size and modification time) and the split
asked for, so a changed file is seen and read again; the cache records the
decoded content's digest (before the split), which ``run.json`` keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mnist_sgd.datasets.base import DataOptions, MnistData
from mnist_sgd.datasets.cache import (
    content_digest,
    discard,
    fingerprint,
    read_cached,
    write_cached,
)
from mnist_sgd.datasets.decode import parallel_decode_counting
from mnist_sgd.datasets.idx import MAX_IDX_BYTES, idx_payload, read_idx
from mnist_sgd.datasets.kaggle_csv import read_kaggle_csv
from mnist_sgd.datasets.layout import FORMAT_VERSION
from mnist_sgd.errors import DataError

SPLIT_NAMES = (("train", "valid"), ("training", "testing"))
Decoded = tuple[tuple[str, ...], dict[str, Tensor]]  # classes, the four tensors (valid maybe empty)


def load_own(path: Path, options: DataOptions) -> MnistData:
    """Load the set at ``path`` (see the module docstring), from the tensor cache when unchanged.

    Returns:
        :class:`MnistData` named after the path's stem, ``source`` its resolved path,
        ``digest`` the SHA-256 of its decoded pixels and labels (before the split).
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder (given as a dataset); give a dataset's name, "
            "or the path of a class-folder tree, a Kaggle-layout CSV or a folder of IDX files"
        )
    split = (options.valid_pct, options.split_seed)
    cache_file = options.resolved_cache_dir() / "tensors" / f"own-{_key(path, split)}.safetensors"
    cached = _load_cache(cache_file)
    if cached is None:
        notes: list[str] = []
        classes, tensors = read_own(path, notes)
        digest = content_digest(tensors)
        was_split = len(tensors["valid_labels"]) == 0
        if was_split:
            tensors = random_split(tensors, *split)
        cached = (classes, tensors), digest, was_split, tuple(notes)
        _save_cache(cache_file, cached, path)
    (classes, tensors), digest, was_split, notes_said = cached
    for note in notes_said:  # said on every load, the tensor cache's too
        warnings.warn(note, stacklevel=2)
    return MnistData(
        name=path.stem,
        classes=classes,
        source=str(path),
        digest=digest,
        valid_pct=options.valid_pct if was_split else None,
        split_seed=options.split_seed if was_split else None,
        **tensors,
    )


def read_own(path: Path, notes: list[str] | None = None) -> Decoded:
    """Decode the set at ``path``: classes and the four tensors (``valid_*`` empty if unsplit).

    ``notes``: where to put what a person should hear about the decoding (how many images
    went through the MNIST recipe); without it, each is a warning.
    """
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError(f"{path}: a dataset file must be a Kaggle-layout .csv")
        images, labels = read_kaggle_csv(path)
        if labels is None:
            raise DataError(f"{path}: no 'label' column; an unlabelled CSV is for predict")
        classes = tuple(str(c) for c in range(int(labels.max()) + 1))
        return classes, {**_split_tensors("train", images, labels), **_empty_valid()}
    if any(path.glob("*-images-idx3-ubyte*")):
        return _read_idx_folder(path)
    return _read_class_folders(path, notes)


def verify_own(path: str, digest: str) -> None:
    """Decode the set at ``path`` again and compare its content with ``digest``."""
    found = content_digest(read_own(Path(path))[1])
    if found != digest:
        raise DataError(
            f"{path}: decodes to {found[:12]}..., the tensor cache holds {digest[:12]}...; "
            "the files changed since: load it again"
        )


def random_split(tensors: dict[str, Tensor], valid_pct: float, seed: int) -> dict[str, Tensor]:
    """fastai's ``RandomSplitter``: ``valid_pct`` of the training items, by a seeded permutation.

    Both splits keep the source's order (the chosen indices are sorted).
    """
    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct}")
    images, labels = tensors["train_images"], tensors["train_labels"]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_valid = int(len(labels) * valid_pct)
    valid, _ = order[:n_valid].sort()
    train, _ = order[n_valid:].sort()
    return {
        **_split_tensors("train", images[train], labels[train]),
        **_split_tensors("valid", images[valid], labels[valid]),
    }


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """``"10"`` after ``"2"``: digit runs compare as numbers, the rest as text."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


def _read_class_folders(root: Path, notes: list[str] | None = None) -> Decoded:
    """``root/<class>/<image>`` or ``root/<split>/<class>/<image>``, every image decoded."""
    for train_name, valid_name in SPLIT_NAMES:
        if (root / train_name).is_dir() and (root / valid_name).is_dir():
            splits = {"train": root / train_name, "valid": root / valid_name}
            break
    else:
        splits = {"train": root}
    classes = tuple(sorted({c.name for c in _class_dirs(splits["train"])}, key=natural_key))
    tensors = _empty_valid()
    fitted = total = 0
    for split, folder in splits.items():
        files, labels = [], []
        for class_dir in _class_dirs(folder):
            if class_dir.name not in classes:
                raise DataError(
                    f"{class_dir}: class {class_dir.name!r} is not in train/; "
                    "give both splits the same class folders"
                )
            names = sorted(f for f in class_dir.iterdir() if not f.name.startswith("."))
            files += names
            labels += [classes.index(class_dir.name)] * len(names)
        if not files:
            raise DataError(
                f"{folder}: no images in its class folders; put each class's image files in them"
            )
        images, changed = _decode_files(files)
        tensors.update(_split_tensors(split, images, torch.tensor(labels)))
        fitted, total = fitted + changed, total + len(files)
    if fitted:
        note = fitted_note(fitted, total, root)
        if notes is None:
            warnings.warn(note, stacklevel=3)
        else:
            notes.append(note)
    return classes, tensors


def _decode_files(files: list[Path]) -> tuple[Tensor, int]:
    """``(n, 28, 28) uint8``: each file through Pillow; one not 28x28 grayscale through the
    MNIST recipe ``predict`` uses (:func:`mnist_sgd.datasets.mnist_style.fit_to_mnist`); and
    how many went through it."""
    images, fitted = parallel_decode_counting(
        len(files), lambda i: (str(files[i]), files[i].read_bytes()), fit=True
    )
    return torch.from_numpy(images), fitted


def fitted_note(fitted: int, total: int, where: Path) -> str:
    """The one line: how many images went through the MNIST recipe."""
    return (
        f"{where}: {fitted:,} of {total:,} images were not 28x28 grayscale: "
        "centred and scaled as MNIST's are (as predict does)"
    )


def _class_dirs(folder: Path) -> list[Path]:
    """The class folders in ``folder`` (hidden ones skipped); refuses a folder with none."""
    found = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if not found:
        raise DataError(
            f"{folder}: no class folders; put each class's images in a folder named after it"
        )
    return sorted(found, key=lambda d: natural_key(d.name))


def _read_idx_folder(folder: Path) -> Decoded:
    """Pairs of ``<prefix>-images-idx3-ubyte[.gz]`` and ``<prefix>-labels-idx1-ubyte[.gz]``."""
    prefixes = sorted(
        {f.name.split("-images-idx3")[0] for f in folder.glob("*-images-idx3-ubyte*")}
    )
    if len(prefixes) > 2:
        raise DataError(
            f"{folder}: {len(prefixes)} IDX image files; keep one set per folder (a train "
            "and at most one test file)"
        )
    prefixes.sort(key=lambda p: "train" not in p)  # the training split first
    tensors = _empty_valid()
    for split, prefix in zip(("train", "valid"), prefixes, strict=False):
        images = _idx_array(folder, f"{prefix}-images-idx3-ubyte", 3)
        labels = _idx_array(folder, f"{prefix}-labels-idx1-ubyte", 1)
        if prefix.lower().startswith("emnist"):  # EMNIST's IDX images are stored transposed
            images = images.transpose(0, 2, 1)
        if images.shape[1:] != (28, 28) or len(labels) != len(images):
            raise DataError(
                f"{folder}/{prefix}: {len(labels)} labels for images {images.shape}; the images "
                "must be 28x28 and each images file needs the labels file of the same set"
            )
        tensors.update(
            _split_tensors(
                split, torch.from_numpy(images.copy()), torch.from_numpy(labels.astype("int64"))
            )
        )
    return _idx_classes(folder, tensors), tensors


def _idx_classes(folder: Path, tensors: dict[str, Tensor]) -> tuple[str, ...]:
    """One per line of ``classes.txt``, else ``0..n-1`` for labels up to ``n-1``."""
    labels = (tensors[f"{split}_labels"] for split in ("train", "valid"))
    top = max((int(split_labels.max()) for split_labels in labels if len(split_labels)), default=0)
    classes_file = folder / "classes.txt"
    if not classes_file.is_file():
        return tuple(str(c) for c in range(top + 1))
    lines = classes_file.read_text(errors="replace").splitlines()
    classes = tuple(line.strip() for line in lines if line.strip())
    if top >= len(classes):
        raise DataError(
            f"{classes_file}: {len(classes)} classes, but a label is {top}; give one class "
            "name per line for every label"
        )
    return classes


def _idx_array(folder: Path, stem: str, rank: int) -> np.ndarray:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            payload = idx_payload(folder / name, str(folder / name), limit=MAX_IDX_BYTES)
            return read_idx(payload, str(folder / name), rank=rank)
    raise DataError(f"{folder}: {stem}[.gz] is missing; put it beside its images file")


def _split_tensors(split: str, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
    return {f"{split}_images": images.contiguous(), f"{split}_labels": labels.to(torch.int64)}


def _empty_valid() -> dict[str, Tensor]:
    return _split_tensors("valid", torch.empty(0, 28, 28, dtype=torch.uint8), torch.empty(0))


def _key(path: Path, split: tuple[float, int]) -> str:
    """The cache key: the path, its files' sizes and modification times, and the split asked."""
    listing = fingerprint(path) if path.is_dir() else _file_stamp(path)
    text = f"v{FORMAT_VERSION}\0fit:mnist_style\0{path}\0{listing}\0{split}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}\0{stat.st_mtime_ns}"


Cached = tuple[Decoded, str, bool, tuple[str, ...]]
"""The split set, its content digest, whether it was split here, the notes its decoding gave."""


def _load_cache(cache_file: Path) -> Cached | None:
    """The cached set, or None (a missing or unusable file is a miss; memory-mapped)."""
    found = read_cached(cache_file)
    if found is None:
        return None
    tensors, metadata = found
    try:
        classes = tuple(json.loads(metadata["classes"]))
        notes = tuple(str(note) for note in json.loads(metadata.get("notes", "[]")))
        split_here = metadata["split_here"] == "1"
        return (classes, tensors), metadata["content_sha256"], split_here, notes
    except (KeyError, ValueError):
        discard(cache_file)
        return None


def _save_cache(cache_file: Path, cached: Cached, source: Path) -> None:
    """Write the split set atomically; a cache that cannot be written only costs speed."""
    (classes, tensors), digest, split_here, notes = cached
    metadata = {
        "notes": json.dumps(notes),
        "source": str(source),
        "classes": json.dumps(classes),
        "content_sha256": digest,
        "split_here": "1" if split_here else "0",
    }
    try:
        write_cached(cache_file, tensors, metadata)
    except OSError as error:
        warnings.warn(f"cannot write the tensor cache {cache_file}: {error}", stacklevel=3)
