"""``learn.recorder``: one row per epoch, a loss and an lr per batch; nothing printed by default."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_sgd import DataLoader, DataLoaders, Learner, batch_accuracy, mnist_loss
from mnist_sgd.callbacks.progress import NotebookProgress, in_notebook
from mnist_sgd.core.optim import SGD
from mnist_sgd.core.schedule import one_cycle


def blobs_learner(**kwargs: object) -> Learner:
    g = torch.Generator().manual_seed(0)
    y = (torch.arange(200) % 2).unsqueeze(1)
    x = torch.randn(200, 784, generator=g) * 0.1 + y.float()
    items = list(zip(x, y, strict=True))
    dls = DataLoaders(DataLoader(items, batch_size=50), DataLoader(items, batch_size=100))
    torch.manual_seed(0)
    return Learner(
        dls, nn.Linear(784, 1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy, **kwargs
    )


def test_values_losses_and_lrs(capsys: pytest.CaptureFixture[str]) -> None:
    learn = blobs_learner(lr_schedule=one_cycle)
    history = learn.fit(3, lr=0.5)
    assert capsys.readouterr() == ("", "")  # outside a notebook the library prints nothing
    assert not in_notebook()
    assert not any(isinstance(cb, NotebookProgress) for cb in learn.cbs)
    rec = learn.recorder
    assert rec.metric_names == ["train_loss", "valid_loss", "batch_accuracy"]
    assert rec.values == [[r["train_loss"], r["valid_loss"], r["batch_accuracy"]] for r in history]
    assert rec.values[-1][2] == history[-1]["batch_accuracy"] > 0.9
    assert len(rec.losses) == len(rec.lrs) == 3 * 4 and rec.epoch_ends == [4, 8, 12]
    assert max(rec.lrs) <= 0.5 and rec.lrs[0] < rec.lrs[4]  # the schedule's warm-up, per batch
    learn.fit(1, lr=0.1)  # a new fit starts a new record
    assert len(rec.values) == 1 and len(rec.losses) == 4


def test_the_plots_draw() -> None:
    import matplotlib

    matplotlib.use("Agg")
    learn = blobs_learner()
    learn.fit(2, lr=0.5)
    ax = learn.recorder.plot_loss(skip_start=1)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "valid"]
    assert len(ax.get_lines()[0].get_xdata()) == 7
    assert list(learn.recorder.plot_sched().get_lines()[0].get_ydata()) == [0.5] * 8
