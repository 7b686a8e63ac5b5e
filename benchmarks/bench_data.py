"""Loading data (issue 2): cold and warm ``load_dataset`` next to the book's way.

    .venv/bin/python benchmarks/bench_data.py [--quick] [--repeat N] [--json]

For each dataset, in one process (imports done first, each figure the fastest
of ``--repeat`` runs):

- book: the chapter's way, ``torch.stack([tensor(Image.open(o)) for o in
  sorted(folder.iterdir())])`` for every class folder of both splits, over
  the extracted PNGs (MNIST IDX is compared with the same images as PNG);
  Fashion-MNIST has no PNGs, so its peer is a plain ``gzip`` + ``frombuffer``
  read of the IDX files;
- cold: ``load_dataset`` into an empty cache, offline, from a mirror folder of links to
  your mirror (``MNIST_SGD_MIRROR`` or ``--mirror``; the tests' copy is ``../shared/data``)
  or, without one, to your download cache (MNIST_SAMPLE fetched into it first): copy,
  verify, decode, write the tensor cache;
- decode: the same with the files already fetched (the tensor cache missing);
- warm: ``load_dataset`` again (the tensor cache answers), plus touching
  every byte of the four tensors (the cache is memory-mapped: without the
  touch, the pages would be read later, by the first batches).

Goals: MNIST_SAMPLE cold <= 1.0 s (issue 16: tarfile and Pillow, no parsers of our own) and
warm <= 0.05 s, full MNIST warm <= 0.3 s, on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from benchlib import Row, skipped

from mnist_sgd.datasets import DataOptions, MnistData, get_info, load_dataset

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
GOALS = {("mnist_sample", "cold"): 1.0, ("mnist_sample", "warm"): 0.05, ("mnist", "warm"): 0.3}
PNG_OF = {"mnist_sample": "mnist_sample", "mnist_png": "mnist_png", "mnist": "mnist_png"}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def touch(data: MnistData) -> None:
    """Read every byte of the tensors (a mapped cache file is paged in), with numpy's max."""
    for tensor in (data.train_images, data.train_labels, data.valid_images, data.valid_labels):
        tensor.numpy().max()


def mirror_folder(work: Path) -> Path:
    """A mirror folder (links) of what the user's data options reach, plus Debian's Fashion-MNIST.

    Their mirror when it is a folder; else their download cache, after fetching
    MNIST_SAMPLE into it once (the cold loads below then read it offline).
    """
    from mnist_sgd.datasets import fetch

    options = benchlib.data_options()
    source = Path(options.mirror) if options.mirror and Path(options.mirror).is_dir() else None
    if source is None:
        fetch("mnist_sample", options)
        source = options.resolved_cache_dir() / "downloads"
    mirror = work / "mirror"
    if not mirror.exists():
        mirror.mkdir(parents=True)
        for entry in source.iterdir():
            (mirror / entry.name).symlink_to(entry.resolve())
        if FASHION_DIR.is_dir() and not (mirror / "fashion-mnist").exists():
            (mirror / "fashion-mnist").symlink_to(FASHION_DIR)
    return mirror


def book_way(root: Path, name: str) -> float:
    """The chapter's loading: PIL per file, ``torch.stack``, every class of every split."""
    info = get_info(name)

    def load() -> None:
        for split in info.splits:
            for label in info.classes:
                files = sorted((root / split.source_name / label).iterdir())
                torch.stack([torch.tensor(np.array(Image.open(o))) for o in files])

    return timed(load)


def plain_idx_read(folder: Path) -> float:
    """A peer for IDX datasets: gunzip each file, ``frombuffer``, reshape."""

    def load() -> None:
        for file in sorted(folder.glob("*-ubyte.gz")):
            data = gzip.decompress(file.read_bytes())
            torch.from_numpy(
                np.frombuffer(
                    data, np.uint8, offset=16 if b"idx3" in file.name.encode() else 8
                ).copy()
            )

    return timed(load)


def measure(name: str, mirror: Path, work: Path, repeat: int) -> dict[str, float]:
    """Seconds for cold, decode (fetched, no tensors) and warm loads; the fastest of ``repeat``."""
    figures: dict[str, list[float]] = {"cold": [], "decode": [], "warm": []}
    for attempt in range(repeat):
        cache = work / f"cache-{name}-{attempt}"
        shutil.rmtree(cache, ignore_errors=True)
        load = partial(
            load_dataset, name, DataOptions(cache_dir=cache, mirror=str(mirror), offline=True)
        )
        figures["cold"].append(timed(load))
        figures["warm"].append(min(timed(lambda load=load: touch(load())) for _ in range(3)))
        shutil.rmtree(cache / "tensors")
        figures["decode"].append(timed(load))
        shutil.rmtree(cache)
    return {kind: min(values) for kind, values in figures.items()}


def rows_for(name: str, mirror: Path, work: Path, repeat: int, with_book: bool) -> list[Row]:
    ours = measure(name, mirror, work, repeat)
    if name == "fashion_mnist":
        peer, peer_name = (
            benchlib.min_of(lambda: plain_idx_read(FASHION_DIR), repeat),
            "plain IDX read",
        )
    elif with_book:
        folder = benchlib.png_folder(PNG_OF[name])
        peer, peer_name = (
            benchlib.min_of(lambda: book_way(folder, PNG_OF[name]), repeat),
            "book's way",
        )
    else:
        peer, peer_name = None, ""
    rows = []
    for kind in ("cold", "decode", "warm"):
        goal = GOALS.get((name, kind))
        rows.append(
            Row(
                f"{name}: {kind} load",
                ours[kind],
                unit="s",
                goal=None if goal is None else ("<=", goal),
            )
        )
    if peer is not None:
        detail = (
            f"{peer_name} {peer:.3f} s; ours cold {ours['cold']:.3f} s, warm {ours['warm']:.4f} s"
        )
        rows.append(Row(f"{name}: {peer_name} / ours cold", peer / ours["cold"], detail=detail))
        rows.append(Row(f"{name}: {peer_name} / ours warm", peer / ours["warm"], detail=detail))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="MNIST_SAMPLE only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per figure; the fastest counts (default 3)"
    )
    parser.add_argument(
        "--no-book", action="store_true", help="skip the book's way (slow on full MNIST)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args()
    names = (
        ["mnist_sample"] if args.quick else ["mnist_sample", "mnist", "mnist_png", "fashion_mnist"]
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        work = Path(tmp)
        mirror = mirror_folder(work)
        for name in names:
            if name == "fashion_mnist" and not FASHION_DIR.is_dir():
                rows.append(skipped("fashion_mnist", "apt-get install dataset-fashion-mnist"))
                continue
            rows += rows_for(name, mirror, work, args.repeat, with_book=not args.no_book)
    benchlib.print_rows(rows, as_json=args.json)


if __name__ == "__main__":
    main()
