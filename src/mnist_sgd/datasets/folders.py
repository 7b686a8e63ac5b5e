"""Image folders in fastai's layout, from an archive in memory or from disk, as stacked tensors.

Book section: "Pixels: the foundations of computer vision": the chapter lists
``path/'train'/'3'``, opens every PNG and stacks them. Here the same layout
(``<split>/<class>/<file>``; the label is the class folder's name) becomes one
``(n, 28, 28) uint8`` tensor per split, decoded over all cores the first time.

Order within a split, which the tensor cache and the seed rely on:

- ``"sorted"`` (MNIST_SAMPLE): classes in the registry's order (all 3s, then
  all 7s, as the seed's ``torch.cat([threes, sevens])``), and within a class the
  file names in Python's string order (``10.png``, ``10000.png``, ``10011.png``,
  ...), which is what fastai's ``(path/'train'/'3').ls().sorted()`` gives.
- ``"index"`` (MNIST as PNG): a file's name is its index in canonical MNIST,
  so image ``i`` of the split is ``<class>/<i>.png``: the IDX order exactly.

Hidden files (``.DS_Store``) are skipped; any other file in a class folder must
be a 28x28 grayscale image, or the error names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mnist_sgd.datasets.archive import Source, iter_tar_members
from mnist_sgd.datasets.decode import decode_as_read, parallel_decode
from mnist_sgd.datasets.registry import DatasetInfo
from mnist_sgd.errors import DataError

Entry = tuple[str, int, str]  # (relative file name, label, what to call it in errors)


def read_png_archive(info: DatasetInfo, source: Source, where: str) -> dict[str, Tensor]:
    """Decode a tar or ``.tgz`` archive of ``info``'s image folders (a file, or bytes).

    Only files at least two folders deep (``<split>/<class>/``, maybe under the archive's
    root folder) are kept, each capped, and decoded while the archive is still being read
    (:func:`decode_as_read`); a file that fails to decode is an error only if it is one of
    the split's images.

    Returns:
        ``{"train_images": (n, 28, 28) uint8, "train_labels": (n,) int64, "valid_...": ...}``.
    """

    def wanted(name: str) -> bool:
        return name.count("/") >= 2 and not name.rsplit("/", 1)[-1].startswith(".")

    names: list[str] = []

    def named() -> Iterator[tuple[str, bytes]]:
        for member in iter_tar_members(source, where, keep=wanted):
            names.append(member.name)
            yield f"{where}:{member.name}", member.data  # as errors name it

    _, images, failures = decode_as_read(named())
    position = {name: i for i, name in enumerate(names)}
    root = _archive_root(info, names)

    def decode(ordered: list[Entry]) -> np.ndarray:
        index = [position[root + name] for name, _, _ in ordered]
        for i in index:
            if i in failures:
                raise DataError(failures[i])
        return images[index]

    rel = (name[len(root) :] for name in names if name.startswith(root))
    return _decode_splits(info, rel, decode, f"{where}:{root}")


def read_image_folder(info: DatasetInfo, root: Path) -> dict[str, Tensor]:
    """Decode ``root/<split>/<class>/<file>`` for ``info``'s splits and classes (see module doc)."""
    names = []
    for split in info.splits:
        split_dir = root / split.source_name
        if not split_dir.is_dir():
            raise DataError(f"{root}: no {split.source_name}/ folder; is this {info.name}?")
        for class_dir in _scan(split_dir):
            if class_dir.name.startswith(".") or not class_dir.is_dir():
                continue
            for file in _scan(Path(class_dir.path)):
                if file.is_dir():
                    raise DataError(f"{file.path}: unexpected folder inside a class folder")
                names.append(f"{split.source_name}/{class_dir.name}/{file.name}")

    def decode(ordered: list[Entry]) -> np.ndarray:
        def source(i: int) -> tuple[str, bytes]:
            name, _, shown = ordered[i]
            return shown, (root / name).read_bytes()

        return parallel_decode(len(ordered), source)

    return _decode_splits(info, names, decode, f"{root}/")


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` (``os.scandir`` knows file types without a stat each)."""
    with os.scandir(folder) as entries:
        return list(entries)


def _archive_root(info: DatasetInfo, members: Iterable[str]) -> str:
    """``"mnist_sample/"`` when the archive holds that folder, else ``""`` (a flat archive)."""
    prefix = f"{info.archive_root}/"
    return prefix if any(name.startswith(prefix) for name in members) else ""


def _decode_splits(
    info: DatasetInfo,
    names: Iterable[str],
    decode: Callable[[list[Entry]], np.ndarray],
    where: str,
) -> dict[str, Tensor]:
    """Order the files of each split, check the counts, decode; see the module docstring.

    ``decode(entries)`` gives their ``(n, 28, 28) uint8`` images, both splits' at once.
    """
    entries = _entries_by_split(info, names, where)
    splits: list[list[Entry]] = []
    for split, split_entries in zip(info.splits, entries, strict=True):
        _check_counts(info, split.source_name, split.class_counts, split_entries, where)
        splits.append(_ordered(info, split_entries, split.source_name, where))
    images = decode([entry for split_entries in splits for entry in split_entries])
    tensors: dict[str, Tensor] = {}
    start = 0
    for split, split_entries in zip(info.splits, splits, strict=True):
        stop = start + len(split_entries)
        tensors[f"{split.name}_images"] = torch.from_numpy(images[start:stop].copy())
        tensors[f"{split.name}_labels"] = torch.tensor([label for _, label, _ in split_entries])
        start = stop
    return tensors


def _entries_by_split(info: DatasetInfo, names: Iterable[str], where: str) -> list[list[Entry]]:
    """Sort file names into the splits; files outside ``<split>/<class>/`` are ignored."""
    split_of = {split.source_name: i for i, split in enumerate(info.splits)}
    label_of = {name: i for i, name in enumerate(info.classes)}
    entries: list[list[Entry]] = [[] for _ in info.splits]
    for name in names:
        parts = name.split("/")
        if parts[0] not in split_of or len(parts) < 3 or parts[-1].startswith("."):
            continue
        if parts[1] not in label_of:
            expected = ", ".join(info.classes)
            raise DataError(
                f"{where}{name}: unexpected class folder {parts[1]!r} (expected {expected})"
            )
        if len(parts) > 3:
            raise DataError(f"{where}{name}: unexpected folder inside a class folder")
        entries[split_of[parts[0]]].append((name, label_of[parts[1]], f"{where}{name}"))
    return entries


def _ordered(info: DatasetInfo, entries: list[Entry], split: str, where: str) -> list[Entry]:
    """The split's files in canonical order (see the module docstring)."""
    if info.order == "sorted":
        return sorted(entries, key=lambda entry: (entry[1], entry[0].rsplit("/", 1)[-1]))
    by_index: list[Entry | None] = [None] * len(entries)
    for entry in entries:
        stem = entry[0].rsplit("/", 1)[-1].split(".", 1)[0]
        index = int(stem) if stem.isascii() and stem.isdigit() else -1
        if not 0 <= index < len(entries) or by_index[index] is not None:
            last = len(entries) - 1
            raise DataError(
                f"{entry[2]}: file names in {split}/ must be the image indices 0..{last}"
            )
        by_index[index] = entry
    return [entry for entry in by_index if entry is not None]


def _check_counts(
    info: DatasetInfo,
    split: str,
    expected: tuple[int, ...] | None,
    entries: list[Entry],
    where: str,
) -> None:
    """The number of images per class must be the registry's (where it lists them)."""
    if expected is None:
        return
    counts = np.bincount([label for _, label, _ in entries], minlength=len(info.classes))
    for class_name, count, want in zip(info.classes, counts.tolist(), expected, strict=True):
        if count != want:
            raise DataError(
                f"{where}: {split} has {count} images of class {class_name!r}, "
                f"{info.name} has {want}; the copy is incomplete or not {info.name}"
            )
