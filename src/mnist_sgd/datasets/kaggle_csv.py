"""Kaggle's Digit Recognizer CSV: ``label,pixel0..pixel783`` (or the pixels only), as tensors.

Book section: "Pixels: the foundations of computer vision": each row is one
28x28 image laid out as the chapter's ``view(-1, 28*28)`` rows, 0 = background.

Read by pyarrow's streaming CSV reader (measured against pandas in
``benchmarks/RESULTS.md``), one block at a time: memory is the uint8 images plus
one block, whatever the file holds, and the file is refused above
:data:`MAX_CSV_BYTES`. A bad row is named by its line: a wrong column count, a
value that is not a whole number, a value outside 0..255.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mnist_sgd.errors import DataError

PIXELS = 784
MAX_CSV_BYTES = 1 << 30  # 1 GiB: about 600,000 images; Kaggle's train.csv is 76 MB
MAX_HEADER_BYTES = 64 << 10
BLOCK_BYTES = 4 << 20  # measured: larger blocks parse no faster, smaller ones stack slower


def read_kaggle_csv(path: Path) -> tuple[Tensor, Tensor | None]:
    """The images ``(n, 28, 28) uint8`` and labels ``(n,) int64`` (None: no ``label`` column).

    Raises:
        DataError: one line naming the file (and the line, for a bad row).
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise DataError(
            f"{path}: {size} bytes is more than the {MAX_CSV_BYTES >> 20} MB a CSV may hold; "
            "split it, or write the images as IDX files"
        )
    names = _header(path)
    blocks = _blocks(path, names)
    images = np.concatenate([b[0] for b in blocks]) if blocks else np.empty((0, PIXELS), np.uint8)
    if len(images) == 0:
        raise DataError(f"{path}: no rows after the header; add one row per image")
    pixels = torch.from_numpy(images.reshape(-1, 28, 28))
    if names[0] != "label":
        return pixels, None
    return pixels, torch.from_numpy(np.concatenate([b[1] for b in blocks]).astype(np.int64))


def _header(path: Path) -> list[str]:
    """The column names: ``label`` then 784 pixels, or 784 pixels."""
    with path.open("rb") as handle:
        first = handle.readline(MAX_HEADER_BYTES)
    names = first.decode("utf-8", "replace").strip().split(",")
    if len(names) not in (PIXELS, PIXELS + 1) or (len(names) == PIXELS + 1) != (
        names[0] == "label"
    ):
        raise DataError(
            f"{path}:1: expected a header 'label,pixel0,...,pixel783' (or the 784 pixel "
            f"columns only), got {len(names)} columns starting {','.join(names[:2])!r}"
        )
    return names


def _blocks(path: Path, names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each block's pixels ``(rows, 784) uint8`` and labels ``(rows,)``, checked row by row.

    pyarrow is imported here, when a CSV is read: at the top it loaded with every dataset
    (0.2 s), and its thread pools went with every training process: a data-parallel worker
    stopped by Ctrl-C could abort at exit in their C++ teardown ("terminate called without
    an active exception", one run in ten under load).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.int16()))
    parse = pacsv.ParseOptions()
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES)
    blocks, done = [], 0
    try:
        with pacsv.open_csv(path, read, parse, options) as reader:
            for batch in reader:
                values = np.asarray(batch.to_tensor(row_major=True))  # (rows, columns) int16
                _check_range(path, values, done, names)
                labels = values[:, 0] if names[0] == "label" else values[:, :0]
                blocks.append((values[:, -PIXELS:].astype(np.uint8), labels))
                done += len(values)
    except pa.ArrowInvalid as error:
        raise _row_error(path, names, error) from None
    return blocks


def _check_range(path: Path, values: np.ndarray, done: int, names: list[str]) -> None:
    """Pixels in 0..255, labels >= 0; the first bad value named by its line and column."""
    low = np.zeros(values.shape[1], np.int64)
    high = np.full(values.shape[1], 255, np.int64)
    if names[0] == "label":
        high[0] = np.iinfo(np.int16).max
    wrong = np.argwhere((values < low) | (values > high))
    if len(wrong):
        row, column = wrong[0].tolist()
        raise DataError(
            f"{path}:{done + row + 2}: {names[column]} is {values[row, column]}, "
            f"outside {low[column]}..{high[column]}; fix that line (pixels are grey levels 0-255)"
        )


def _row_error(path: Path, names: list[str], error: Exception) -> DataError:
    """The first bad line, found by a plain scan (only after pyarrow refused the file)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if number == 1:
                continue
            if len(row) != len(names):
                return DataError(
                    f"{path}:{number}: {len(row)} columns, expected {len(names)} as in the header"
                )
            for cell in row:
                if not cell.strip().lstrip("-").isdigit():
                    return DataError(f"{path}:{number}: {cell!r} is not a whole number (0..255)")
    return DataError(f"{path}: cannot read the CSV ({error})")
