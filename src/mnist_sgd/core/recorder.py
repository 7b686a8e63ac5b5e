"""``learn.recorder``: what a fit did, per epoch and per batch, and its two plots.

As fastai's ``Recorder``: ``values`` holds one row per epoch
``[train_loss, valid_loss, *metrics]`` (so ``learn.recorder.values[-1][2]`` is
the last epoch's first metric, as the book reads it), ``losses`` the training
loss of every batch, ``lrs`` the learning rate of every batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mnist_sgd.core.callback import Callback, Learner

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class Recorder(Callback):
    """Keeps the history of the current fit; every ``Learner`` has one as ``learn.recorder``."""

    def __init__(self) -> None:
        self.learn: Learner | None = None
        self._losses: list[Tensor] = []
        self.lrs: list[float] = []
        self.epoch_ends: list[int] = []  # batches seen at the end of each epoch

    def before_fit(self, learn: Learner) -> None:
        self.learn = learn
        if learn.epoch == 0 and learn.iter == 0:  # a fresh fit, not a resumed one
            self._losses, self.lrs, self.epoch_ends = [], [], []

    def after_batch(self, learn: Learner) -> None:
        self._losses.append(learn.loss.detach())  # no device sync here: read on demand
        assert learn.opt is not None
        self.lrs.append(float(learn.opt.lr))

    def after_epoch(self, learn: Learner) -> None:
        self.epoch_ends.append(len(self._losses))

    @property
    def losses(self) -> list[float]:
        """The training loss of every batch of the fit, in order."""
        return torch.stack(self._losses).float().cpu().tolist() if self._losses else []

    @property
    def metric_names(self) -> list[str]:
        """The names of ``values``' columns: ``train_loss``, ``valid_loss``, then the metrics."""
        metrics = [] if self.learn is None else [m.__name__ for m in self.learn.metrics]
        return ["train_loss", "valid_loss", *metrics]

    @property
    def values(self) -> list[list[float]]:
        """One row per epoch: ``[train_loss, valid_loss, *metrics]``."""
        if self.learn is None:
            return []
        names = self.metric_names
        return [[record[n] for n in names] for record in self.learn.history]

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True) -> Axes:
        """Training loss per batch (after ``skip_start``), validation loss per epoch."""
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
        losses = self.losses
        ax.plot(range(skip_start, len(losses)), losses[skip_start:], label="train")
        if with_valid and self.values:
            ends = self.epoch_ends[-len(self.values) :]
            ax.plot(ends, [row[1] for row in self.values[-len(ends) :]], label="valid")
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.legend()
        return ax

    def plot_sched(self) -> Axes:
        """The learning rate of every batch."""
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs)
        ax.set_xlabel("batch")
        ax.set_ylabel("learning rate")
        return ax

    def __repr__(self) -> str:
        return f"Recorder({len(self.values)} epochs, {len(self._losses)} batches)"
