"""The notebook table numbers n epochs 1..n once, and the book's ``fit`` returns ``None``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from mnist_sgd.callbacks.progress import NotebookProgress
from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.learner import Learner
from mnist_sgd.core.loss import mnist_loss

BOOK_FUNCTIONS = """
def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()

def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()
"""
TINY = """
torch.manual_seed(0)
x = torch.rand(64, 784); y = (x.mean(1, keepdim=True) > 0.5).long()
dls = DataLoaders(DataLoader(list(zip(x, y)), batch_size=16),
                  DataLoader(list(zip(x, y)), batch_size=16))
learn = Learner(dls, nn.Linear(28*28,1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
"""


def tiny_learner() -> Learner:
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    y = (x.mean(1, keepdim=True) > 0.5).long()
    dl = DataLoader(list(zip(x, y, strict=True)), batch_size=16)
    return Learner(DataLoaders(dl, dl), torch.nn.Linear(784, 1), loss_func=mnist_loss)


def table_epochs(plain: str) -> list[int]:
    return [int(line.split()[0]) for line in plain.splitlines()[1:]]


def test_the_table_numbers_epochs_as_recorded_from_one() -> None:
    learn = tiny_learner()
    history = learn.fit(4, lr=0.1)
    progress = NotebookProgress()
    progress.rows = history
    assert [r["epoch"] for r in history] == [1.0, 2.0, 3.0, 4.0]
    assert table_epochs(progress._table().plain) == [1, 2, 3, 4]


@pytest.mark.slow
def test_in_a_kernel_fit_shows_one_table_numbered_once_and_returns_none(
    shared_data: Path, sample_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    monkeypatch.setenv("MNIST_SGD_CACHE", str(sample_cache))
    cells = [
        "from mnist_sgd.book import *",
        BOOK_FUNCTIONS,
        TINY,
        "learn.fit(3, lr=0.1)",
        "learn.fit_one_cycle(2, 0.1)",
        "len(learn.recorder.values)",
    ]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    for fit_cell in nb.cells[3:5]:
        kinds = [out["output_type"] for out in fit_cell.outputs]
        assert "execute_result" not in kinds, "fit returned something in the notebook"
    tables = [
        [out["data"]["text/plain"] for out in cell.outputs if out["output_type"] == "display_data"]
        for cell in nb.cells[3:5]
    ]
    assert [table_epochs(t[0]) for t in tables] == [[1, 2, 3], [1, 2]]
    assert re.search(r"batch_accuracy", tables[0][0])
    assert nb.cells[5].outputs[0]["data"]["text/plain"] == "2"
