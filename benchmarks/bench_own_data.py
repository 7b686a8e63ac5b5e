"""A user's own set (issue 28): a 60,000-row Kaggle CSV cold and warm; a 70,000-image tree.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_own_data.py [--tree] [--pandas DIR]

Writes MNIST's training images (``../shared/data/mnist``) as ``label,pixel0..pixel783``,
then times ``load_dataset(PATH)`` into an empty cache (cold: pyarrow's streamed parse, the
checks, the tensor cache written) and again (warm: the tensor cache mapped, the split
taken), with the process's peak memory. Peers in the same run: pyarrow's whole-file
``read_csv`` and, with ``--pandas DIR`` (a folder holding pandas), ``pandas.read_csv``.
``--tree`` also writes MNIST's 70,000 images as class folders and times the cold load,
next to ``load_dataset("mnist_png")`` from the shared archive.
Goals: CSV cold <= 3 s, warm <= 0.05 s; the tree no slower than mnist_png.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.datasets.idx import read_idx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(what: str, call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{what:<44} {seconds:7.3f} s")
    return seconds


def mnist(prefix: str = "train") -> tuple[np.ndarray, np.ndarray]:
    folder = SHARED / "mnist"
    images = read_idx((folder / f"{prefix}-images-idx3-ubyte.gz").read_bytes(), "images")
    labels = read_idx((folder / f"{prefix}-labels-idx1-ubyte.gz").read_bytes(), "labels")
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="store_true")
    parser.add_argument("--pandas", type=Path)
    parser.add_argument("--tree-only", action="store_true", help="only the tree, not the CSV")
    args = parser.parse_args()
    images, labels = mnist()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.tree_only:
            _tree(root)
            return
        csv_path = root / "train.csv"
        header = "label," + ",".join(f"pixel{i}" for i in range(784))
        rows = np.column_stack([labels, images.reshape(-1, 784)]).astype(np.int64)
        np.savetxt(csv_path, rows, "%d", ",", header=header, comments="")
        print(f"{csv_path.stat().st_size / 1e6:.0f} MB CSV, {len(rows)} rows")
        options = DataOptions(cache_dir=root / "cache")
        timed("load_dataset(train.csv) cold", lambda: load_dataset(str(csv_path), options))
        timed("load_dataset(train.csv) warm", lambda: load_dataset(str(csv_path), options))
        timed(
            "warm, then touching every byte", lambda: _touch(load_dataset(str(csv_path), options))
        )
        print(f"peak memory (max RSS)                        {_peak_mb():7.0f} MB")
        import pyarrow.csv as pacsv

        timed("peer: pyarrow.csv.read_csv (whole file)", lambda: pacsv.read_csv(csv_path))
        if args.pandas is not None:
            sys.path.insert(0, str(args.pandas))
            import pandas as pd

            timed("peer: pandas.read_csv (C engine)", lambda: pd.read_csv(csv_path))
        if args.tree:
            _tree(root)


def _tree(root: Path) -> None:
    """MNIST's 70,000 images as ``training/<digit>/<i>.png`` and ``testing/...``, as mnist_png."""
    from PIL import Image

    for split, prefix in (("training", "train"), ("testing", "t10k")):
        images, labels = mnist(prefix)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            (root / "tree" / split / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "tree" / split / str(label) / f"{i}.png")
    tree = DataOptions(cache_dir=root / "tree-cache")
    timed("load_dataset(tree of 70,000 PNGs) cold", lambda: load_dataset(str(root / "tree"), tree))
    png = DataOptions(cache_dir=root / "png-cache", mirror=str(SHARED), offline=True)
    timed("peer: load_dataset('mnist_png') cold", lambda: load_dataset("mnist_png", png))


def _touch(data: object) -> None:
    """Read every page of the memory-mapped tensors (the first batches would, later)."""
    for name in ("train_images", "train_labels", "valid_images", "valid_labels"):
        getattr(data, name).sum()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
