"""The seed walkthrough notebook, on ``mnist_sgd.book``: saved executed, and it runs fresh.

Run fresh in a Jupyter kernel (nbclient), the outputs must hold what the seed
prints, the pictures the book draws (PNG images), and ``learn.fit``'s epoch
table (the notebook progress display: HTML with a plain-text twin).
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

NOTEBOOK = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "mnist_sgd"
    / "notebooks"
    / "seed_walkthrough.ipynb"
)


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images(nb: nbformat.NotebookNode) -> list[bytes]:
    return [
        base64.b64decode(out["data"]["image/png"])
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]


def fit_tables(nb: nbformat.NotebookNode) -> list[str]:
    """The final state of each ``learn.fit`` table (display_data updated in place)."""
    return [
        out["data"]["text/html"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if 'class="mnist-sgd-fit"' in out.get("data", {}).get("text/html", "")
    ]


def check_outputs(nb: nbformat.NotebookNode) -> None:
    text = outputs_text(nb)
    for printed in (
        "(torch.Size([12396, 784]), torch.Size([12396, 1]))",
        "(torch.Size([784]), tensor([1]))",
        "tensor([0.1000, 0.4000, 0.8000])",
        "tensor(0.4333)",
        "tensor(0.2333)",
        "(tensor(0.9168), tensor(0.9854), tensor(0.9511))",  # pixel similarity, as the book
        "tensor([ 6.,  8., 20.])",  # the gradient of (x**2).sum() at [3, 4, 10]
    ):
        assert printed in text
    from PIL import Image

    pictures = [Image.open(io.BytesIO(png)) for png in images(nb)]
    assert len(pictures) >= 17  # 3, 7, means, the quadratic's 4 pictures, sigmoid, losses, ...
    assert all(p.width >= 100 and p.height >= 100 for p in pictures)
    tables = fit_tables(nb)
    assert len(tables) == 2  # the nn.Linear Learner (10 epochs) and simple_net (40)
    assert tables[0].count("<tr>") == 1 + 10 and tables[1].count("<tr>") == 1 + 40
    assert "batch_accuracy" in tables[1]
    fits = [c for c in nb.cells if c.source.split("\n")[-1].startswith("learn.fit(")]
    assert len(fits) == 2  # and fit returns None, as fastai's: no history under the table
    assert not any(o.output_type == "execute_result" for c in fits for o in c.outputs)


def test_the_notebook_is_saved_executed_and_small() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code)
    assert not any(out.output_type == "error" for cell in code for out in cell.outputs)
    assert NOTEBOOK.stat().st_size < 1_000_000
    check_outputs(nb)


def test_the_notebook_uses_the_book_module_and_the_seeds_code() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert source.startswith("from mnist_sgd.book import *")
    for line in (
        "def linear1(xb): return xb@weights + bias",
        "train_y = tensor([1]*len(threes) + [0]*len(sevens)).unsqueeze(1)",
        "d1 = DataLoader(ds, batch_size=6, shuffle=True)",
        "learn.fit(40, 0.1)",
        "def mnist_distance(a,b): return (a-b).abs().mean((-1,-2))",
        "for ax in axs: show_preds(apply_step(params, False), ax)",
        "class BasicOptim:",
        "ds = L(enumerate(string.ascii_lowercase))",
    ):
        assert line in source


@pytest.mark.slow
def test_the_notebook_runs_in_the_venv_kernel(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    monkeypatch.setenv("MNIST_SGD_CACHE", str(tmp_path_factory.getbasetemp() / "mnist-sgd-cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.append(new_code_cell("import sys; print(sys.executable)"))
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # a cell that raises fails the test (CellExecutionError)
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
    check_outputs(nb)
    (last,) = [c for c in nb.cells if c.source == "learn.recorder.values[-1][2]"]
    assert float(last.outputs[0]["data"]["text/plain"]) >= 0.975  # simple_net, as the book
