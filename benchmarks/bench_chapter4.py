"""How long fastbook chapter 4 takes, part by part, run as tests/test_chapter4.py runs it.

    MNIST_SGD_MIRROR=../shared/data python benchmarks/bench_chapter4.py [--cache DIR]

A fresh Jupyter kernel runs every code cell of ``tests/fixtures/04_mnist_basics.cells.txt``
(the install cell and the resnet18 cell left out, the imports replaced by
``from mnist_sgd.book import *``); the cells' own execution times are summed per part of the
chapter, and the kernel's start and the whole wall time are given beside them. Without
``--cache`` the data cache is a new folder, so the first part includes unpacking the PNGs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

CELLS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "04_mnist_basics.cells.txt"
# a part starts at a cell that starts with its key (a key met again names the same part)
PARTS = {
    "#hide\nfrom mnist_sgd.book": "import, untar_data, the PNGs read (Pixels)",
    "a_3 = stacked_threes[1]": "pixel similarity, broadcasting",
    "gv('''": "SGD: gradients and the quadratic example",
    "train_x = torch.cat": "the MNIST loss, sigmoid, DataLoader",
    "weights = init_params((28*28,1))\nbias": "putting it all together (20 epochs by hand)",
    "linear_model = nn.Linear(28*28,1)": "BasicOptim and SGD (2 x 20 epochs)",
    "dls = DataLoaders(dl, valid_dl)": "Learner.fit(10), simple_net, fit(40)",
}


def cells() -> list[str]:
    found = [c.strip("\n") for c in CELLS.read_text(encoding="utf-8").split("# %%\n")[1:]]
    imports = "from fastai.vision.all import *\nfrom fastbook import *"
    return [found[1].replace(imports, "from mnist_sgd.book import *"), *found[2:-1]]


def seconds(cell: nbformat.NotebookNode) -> float:
    run = cell.metadata["execution"]
    start, end = run["iopub.execute_input"][:26], run["shell.execute_reply"][:26]
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def load() -> str:
    """The machine's load average over the last minute, as a figure is read beside it."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, help="an MNIST_SGD_CACHE to reuse (default: new)")
    args = parser.parse_args()
    os.environ["MNIST_SGD_CACHE"] = str(args.cache or tempfile.mkdtemp(prefix="mnist-sgd-"))
    nb = new_notebook(cells=[new_code_cell(c) for c in cells()])
    client = NotebookClient(nb, timeout=600, kernel_name="python3")
    start = time.perf_counter()
    with client.setup_kernel():
        started = time.perf_counter() - start
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    wall = time.perf_counter() - start
    totals: dict[str, float] = {}
    part = ""
    for cell in nb.cells:
        part = next((name for key, name in PARTS.items() if cell.source.startswith(key)), part)
        totals[part] = totals.get(part, 0.0) + seconds(cell)
    print("| part | seconds |\n| --- | ---: |")
    print(f"| kernel start | {started:.1f} |")
    for name, spent in totals.items():
        print(f"| {name} | {spent:.1f} |")
    print(f"| whole chapter, wall time (kernel start included) | {wall:.1f} |")
    print(f"(load average {load()} at the end, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
