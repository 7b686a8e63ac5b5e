"""What the model gets wrong, per item: ``Interpretation``, ``show_results``, ``show_batch``."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

from mnist_sgd import DataLoader, DataLoaders, Learner, batch_accuracy, cross_entropy, mnist_loss
from mnist_sgd.pictures.interpret import Interpretation

matplotlib.use("Agg")


def binary_learner() -> Learner:
    """Two items it gets right, one it gets badly wrong (a 7 scored as a sure 3)."""
    x = torch.zeros(3, 784)
    x[:, 0] = torch.tensor([5.0, -5.0, 9.0])  # scores: 5 (a 3), -5 (a 7), 9 (a 3)
    y = torch.tensor([[1], [0], [0]])  # the third is a 7
    model = nn.Linear(784, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[0, 0] = 1.0
        model.bias.zero_()
    items = list(zip(x, y, strict=True))
    dls = DataLoaders(DataLoader(items), DataLoader(items, batch_size=2), vocab=["3", "7"])
    return Learner(dls, model, loss_func=mnist_loss, metrics=batch_accuracy)


def test_binary_targets_map_to_the_vocab_and_the_worst_mistake_comes_first() -> None:
    interp = Interpretation.from_learner(binary_learner())
    assert interp.classes == ["3", "7"]
    assert interp.actual.tolist() == [0, 1, 1] and interp.pred.tolist() == [0, 1, 0]
    assert interp.confusion_matrix().tolist() == [[1, 0], [1, 1]]
    assert interp.most_confused() == [("7", "3", 1)]
    losses, idx = interp.top_losses(1)
    assert idx.tolist() == [2] and float(losses[0]) == pytest.approx(
        torch.sigmoid(torch.tensor(9.0))
    )
    fig = interp.plot_top_losses(2, ncols=2)
    assert [ax.get_title() for ax in fig.axes[:1]] == [f"3/7/{float(losses[0]):.2f}/1.00"]


def test_multiclass_and_the_pictures() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(12, 1, 28, 28), torch.arange(12) % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 3))
    items = list(zip(x, y, strict=True))
    learn = Learner(
        DataLoaders(DataLoader(items, 4), DataLoader(items, 5)), model, loss_func=cross_entropy
    )
    interp = Interpretation.from_learner(learn)
    assert interp.classes == ["0", "1", "2"] and int(interp.confusion_matrix().sum()) == 12
    assert interp.inputs.shape == (12, 1, 28, 28) and interp.losses.shape == (12,)
    assert len(interp.plot_confusion_matrix().texts) == 9
    assert len(learn.show_results(n=4, ncols=2).axes) == 4
    titles = [ax.get_title() for ax in learn.dls.show_batch(n=4, ncols=4).axes]
    assert titles == ["0", "1", "2", "0"]
