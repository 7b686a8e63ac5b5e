"""fastbook chapter 4, every code cell as printed, in a fresh Jupyter kernel after one import.

The cells are ``tests/fixtures/04_mnist_basics.cells.txt`` (written from memory of fastbook's
``04_mnist_basics.ipynb``; see its header). The first cell (installing fastbook) is left out
and the imports cell's two imports become ``from mnist_sgd.book import *``. The last cell
(``vision_learner(dls, resnet18, ...)``) is left out too: torchvision's PyPI wheels are built
against CUDA torch and do not load beside the CPU torch this project pins (``mnist_sgd.book``
says so). Values are checked where the book prints values, kinds where it shows a picture.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

CELLS = Path(__file__).parent / "fixtures" / "04_mnist_basics.cells.txt"
BOOK_IMPORTS = "from fastai.vision.all import *\nfrom fastbook import *"
LEFT_OUT = "learn = vision_learner(dls, resnet18, pretrained=False,"


def chapter_cells() -> list[str]:
    """The fixture's cells, the header comment dropped."""
    text = CELLS.read_text(encoding="utf-8")
    return [cell.strip("\n") for cell in text.split("# %%\n")[1:]]


def runnable(cells: list[str]) -> list[str]:
    """The cells as run here: no install cell, one import, no resnet18 cell."""
    assert "fastbook.setup_book()" in cells[0] and BOOK_IMPORTS in cells[1]
    assert LEFT_OUT in cells[-1]
    return [cells[1].replace(BOOK_IMPORTS, "from mnist_sgd.book import *"), *cells[2:-1]]


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = [out.get("text") or out.get("data", {}).get("text/plain", "") for out in cell.outputs]
    return "\n".join(parts)


def kinds(cell: nbformat.NotebookNode) -> set[str]:
    return {kind for out in cell.outputs for kind in out.get("data", {})}


def seconds(cell: nbformat.NotebookNode) -> float:
    run = cell.metadata["execution"]
    start, end = run["iopub.execute_input"], run["shell.execute_reply"]
    return (datetime.fromisoformat(end[:26]) - datetime.fromisoformat(start[:26])).total_seconds()


def numbers(printed: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+\.\d+(?:e[+-]?\d+)?", printed)]


def test_the_fixture_holds_the_chapter() -> None:
    cells = chapter_cells()
    assert len(cells) == 136
    assert sum(c.startswith("#hide") for c in cells) == 6
    assert "learn.fit(40, 0.1)" in cells[-4] and "fit_one_cycle(1, 0.1)" in cells[-1]


@pytest.mark.slow
def test_the_whole_chapter_runs_as_printed_and_prints_the_books_numbers(
    shared_data: Path, sample_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    monkeypatch.setenv("MNIST_SGD_CACHE", str(sample_cache))
    nb = new_notebook(cells=[new_code_cell(c) for c in runnable(chapter_cells())])
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()  # an error fails here
    nbformat.write(nb, tmp_path / "04_mnist_basics.ipynb")
    by_source = {cell.source: cell for cell in nb.cells}

    def out(source: str) -> str:
        return text_of(by_source[source])

    check_pixels(out, by_source)
    check_sgd(out, by_source)
    check_training(out, by_source)
    spent = [seconds(c) for c in nb.cells]
    print(f"chapter 4: {sum(spent):.1f}s in {len(spent)} cells; slowest {max(spent):.1f}s")


def check_pixels(out: Callable[[str], str], cells: dict[str, nbformat.NotebookNode]) -> None:
    """Pixels and the pixel-similarity baseline."""
    # as the book prints them (Path('valid'), relative to Path.BASE_PATH), in any order
    listed = out("path.ls()")
    assert listed.startswith("(#3) [") and sorted(listed[6:-1].split(",")) == [
        "Path('labels.csv')",
        "Path('train')",
        "Path('valid')",
    ]
    assert sorted(out("(path/'train').ls()")[6:-1].split(",")) == [
        "Path('train/3')",
        "Path('train/7')",
    ]
    assert "(#6131) [Path('train/3/10.png'),Path('train/3/10000.png')," in out(
        "threes = (path/'train'/'3').ls().sorted()\n"
        "sevens = (path/'train'/'7').ls().sorted()\nthrees"
    )
    assert "image/png" in kinds(cells["im3_path = threes[1]\nim3 = Image.open(im3_path)\nim3"])
    assert out("array(im3)[4:10,4:10]").startswith("array([[")
    assert out("tensor(im3)[4:10,4:10]").startswith("tensor([[")
    style = next(c for s, c in cells.items() if s.startswith("im3_t = tensor(im3)"))
    assert "text/html" in kinds(style) and "<table" in style.outputs[0]["data"]["text/html"]
    assert "(6131, 6265)" in out(
        "seven_tensors = [tensor(Image.open(o)) for o in sevens]\n"
        "three_tensors = [tensor(Image.open(o)) for o in threes]\n"
        "len(three_tensors),len(seven_tensors)"
    )
    assert out("stacked_threes.ndim") == "3" and out("tns.type()") == "'torch.LongTensor'"
    accuracies = next(s for s in cells if s.startswith("accuracy_3s ="))
    threes, sevens, both = numbers(out(accuracies))
    assert 0.90 <= threes <= 0.93 and 0.975 <= sevens <= 0.995 and 0.94 <= both <= 0.96
    pictures = [c for s, c in cells.items() if s.startswith("show_image(") or "show_image(" in s]
    assert len(pictures) == 4 and all("image/png" in kinds(c) for c in pictures)
    diagrams = [c for s, c in cells.items() if s.startswith("gv(")]
    assert diagrams and all(kinds(c) & {"image/svg+xml", "text/plain"} for c in diagrams)


def check_sgd(out: Callable[[str], str], cells: dict[str, nbformat.NotebookNode]) -> None:
    """The quadratic example, then the MNIST loss, its numbers exact as the book's."""
    steps = next(s for s in cells if s.startswith("for i in range(10): apply_step"))
    losses = [float(v) for v in out(steps).split()]
    assert len(losses) == 10 and losses[-1] < losses[0]
    shown = [c for s, c in cells.items() if s.startswith(("show_preds(", "_,axs", "speed ="))]
    assert len(shown) == 3  # the two cells "show_preds(preds)" are one key here
    assert all("image/png" in kinds(c) for c in shown)
    assert out("train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)") == ""
    assert "(torch.Size([12396, 784]), torch.Size([12396, 1]))" in "\n".join(
        text_of(c) for s, c in cells.items() if s.startswith("train_y =")
    )
    assert out("torch.where(trgts==1, 1-prds, prds)") == "tensor([0.1000, 0.4000, 0.8000])"
    assert out("mnist_loss(prds,trgts)") == "tensor(0.4333)"
    assert out("mnist_loss(tensor([0.9, 0.4, 0.8]),trgts)") == "tensor(0.2333)"
    assert out("ds = L(enumerate(string.ascii_lowercase))\nds").startswith(
        "(#26) [(0, 'a'),(1, 'b'),"
    )
    assert out("dl = DataLoader(dset, batch_size=256)\nxb,yb = first(dl)\nxb.shape,yb.shape") == (
        "(torch.Size([256, 784]), torch.Size([256, 1]))"
    )


def check_training(out: Callable[[str], str], cells: dict[str, nbformat.NotebookNode]) -> None:
    """From scratch, BasicOptim, SGD, the Learner and simple_net: the book's accuracies."""
    by_hand = next(s for s in cells if s.startswith("for i in range(20):"))
    runs = [numbers(out(by_hand)), numbers(out("train_model(linear_model, 20)"))]
    runs.append(numbers([text_of(c) for s, c in cells.items() if s.endswith("model, 20)")][-1]))
    assert all(len(r) == 20 and r[-1] >= 0.95 for r in runs), runs
    for source, n_epoch, floor in (
        ("learn.fit(10, lr=lr)", 10, 0.95),
        ("#hide_output\nlearn.fit(40, 0.1)", 40, 0.975),
    ):
        cell = cells[source]
        assert "execute_result" not in {o["output_type"] for o in cell.outputs}
        table = cell.outputs[0]["data"]["text/plain"].splitlines()[1:]
        assert [int(row.split()[0]) for row in table] == list(range(1, n_epoch + 1))
        assert float(table[-1].split()[3]) >= floor
    assert float(out("learn.recorder.values[-1][2]")) >= 0.975  # the book: 0.982
    assert "image/png" in kinds(cells["plt.plot(L(learn.recorder.values).itemgot(2));"])
