"""Verbs attached to the chapter's ``Learner`` from above (``mnist_sgd.verbs``)."""

from __future__ import annotations

import pytest
import torch

from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.loss import mnist_loss
from mnist_sgd.core.schedule import one_cycle
from mnist_sgd.verbs import Learner


def test_fit_one_cycle_runs_fit_under_one_cycle_and_leaves_the_schedule_as_it_was() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    y = (x.mean(1, keepdim=True) > 0.5).long()
    dl = DataLoader(list(zip(x, y, strict=True)), batch_size=16)
    learn = Learner(DataLoaders(dl, dl), torch.nn.Linear(784, 1), loss_func=mnist_loss)
    history = learn.fit_one_cycle(2, 0.1)  # type: ignore[attr-defined]
    assert [r["epoch"] for r in history] == [1.0, 2.0] and learn.lr_schedule is None
    lrs = learn.recorder.lrs
    assert len(lrs) == 8 and lrs == pytest.approx([one_cycle(0.1, i / 8) for i in range(8)])
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) <= 0.1
