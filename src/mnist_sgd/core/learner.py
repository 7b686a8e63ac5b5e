"""Training: fastbook chapter 4, "Putting it all together".

The seven steps as the chapter's functions (``calc_grad``, ``train_epoch``, ``validate_epoch``),
then as a ``Learner`` whose ``fit`` prints nothing, returns one record per epoch and calls
callbacks at named events. Resuming, bf16 and the lr finder grow it from above
(:mod:`mnist_sgd.callbacks`), as do ``learn.predict`` and ``export`` (:mod:`mnist_sgd.verbs`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mnist_sgd.core.callback import Callback, CancelFitException
from mnist_sgd.core.data import DataLoaders
from mnist_sgd.core.loss import mnist_loss
from mnist_sgd.core.metrics import batch_accuracy, predictions
from mnist_sgd.core.optim import SGD, BasicOptim
from mnist_sgd.core.recorder import Recorder
from mnist_sgd.errors import TrainingError

LossFunc = Callable[[Tensor, Tensor], Tensor]
Metric = Callable[[Tensor, Tensor], Tensor]


def calc_grad(
    xb: Tensor, yb: Tensor, model: Callable[[Tensor], Tensor], loss_func: LossFunc = mnist_loss
) -> Tensor:
    """Steps 2-4: predict, score, and compute gradients. Returns the loss (a scalar)."""
    preds = model(xb)
    loss = loss_func(preds, yb)
    loss.backward()
    return loss


def train_epoch(
    model: Callable[[Tensor], Tensor],
    dl: Iterable[Any],
    opt: BasicOptim,
    loss_func: LossFunc = mnist_loss,
) -> None:
    """One pass over ``dl``: for each batch, gradients, a step (step 5), and zero the grads."""
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_func)
        opt.step()
        opt.zero_grad()


@torch.no_grad()
def validate_epoch(
    model: Callable[[Tensor], Tensor], dl: Iterable[Any], metric: Metric = batch_accuracy
) -> float:
    """The metric over a whole ``DataLoader``, averaged over items (step 6, for people)."""
    total, count = 0.0, 0
    for preds, yb in predictions(model, dl):
        total += metric(preds, yb).item() * len(yb)
        count += len(yb)
    return total / count


class Learner:
    """Data, model, optimiser, loss and metrics together: ``Learner(dls, model).fit(10, lr=1.0)``.

    Args:
        opt_func: ``opt_func(params, lr)`` builds the optimiser; ``loss_func(preds, yb)`` a scalar.
        metrics: one or several, each ``metric(preds, yb)`` -> the mean over the batch.
        cbs: callbacks, called in order at each event after ``recorder`` and ``default_cbs``.
        lr_schedule: ``lr_schedule(lr, pos)`` -> lr for a batch at ``pos`` in [0, 1) of the fit.
    """

    #: factories of the callbacks every Learner gets; layers above add theirs (the notebook's)
    default_cbs: ClassVar[list[Callable[[], list[Callback]]]] = []

    def __init__(
        self,
        dls: DataLoaders,
        model: nn.Module,
        opt_func: Callable[..., BasicOptim] = SGD,
        loss_func: LossFunc = mnist_loss,
        metrics: Metric | Sequence[Metric] = batch_accuracy,
        cbs: Sequence[Callback] = (),
        lr_schedule: Callable[[float, float], float] | None = None,
    ) -> None:
        self.dls, self.model, self.opt_func, self.loss_func = dls, model, opt_func, loss_func
        self.metrics = [metrics] if callable(metrics) else list(metrics)
        self.recorder = Recorder()  # learn.recorder.values, .losses, .plot_loss()
        defaults = [cb for make in self.default_cbs for cb in make()]
        self.cbs: list[Callback] = [self.recorder, *defaults, *cbs]
        self.lr_schedule = lr_schedule
        self.train_forward: Callable[[Tensor], Tensor] | None = None  # a callback's (bf16)
        self.opt: BasicOptim | None = None
        self.history: list[dict[str, float]] = []
        self.epoch, self.iter, self.n_epoch, self.lr, self.loss = 0, 0, 0, 0.0, torch.tensor(0.0)
        self.batches: Iterator[Any] | None = None  # set in before_epoch to replay an order
        self.batch_losses: list[Tensor] = []  # this epoch's, one scalar a batch
        self.batch_sizes: list[int] = []
        self.initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def fit(self, n_epoch: int, lr: float = 1.0, *, resume: bool = False) -> list[dict[str, float]]:
        """Train ``n_epoch`` epochs; return the history, a record an epoch: ``epoch`` (from 1),
        ``train_loss``, ``valid_loss``, each metric by ``__name__``, ``seconds``. ``resume=True``
        goes on from ``epoch`` and ``iter`` (after a ``CancelFitException`` or a checkpoint)."""
        if n_epoch < 1:
            raise ValueError(f"n_epoch must be >= 1, got {n_epoch}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.n_epoch, self.lr = n_epoch, lr
        if not resume or self.opt is None:
            self.opt = self.opt_func(self.model.parameters(), lr)
            self.history, self.epoch, self.iter = [], 0, 0
            self.batch_losses, self.batch_sizes = [], []
        try:
            self._event("before_fit")
            while self.epoch < n_epoch:
                self._one_epoch()
        except CancelFitException:
            pass
        self._event("after_fit")
        return self.history

    def _event(self, name: str) -> None:
        for cb in self.cbs:
            getattr(cb, name)(self)

    def _one_epoch(self) -> None:
        start = time.perf_counter()
        self.batches = None
        self._event("before_epoch")  # a callback may set self.batches (resuming mid-epoch)
        if self.batches is None and self.iter:
            raise TrainingError("resuming mid-epoch needs the Resume callback (callbacks.resume)")
        self._train_one_epoch(iter(self.dls.train) if self.batches is None else self.batches)
        record = {"epoch": float(self.epoch + 1), "train_loss": self._epoch_train_loss()}
        record.update(self.validate())
        record["seconds"] = time.perf_counter() - start
        self.history.append(record)
        self.epoch, self.iter, self.batch_losses, self.batch_sizes = self.epoch + 1, 0, [], []
        self._event("after_epoch")

    def _train_one_epoch(self, batches: Iterator[Any]) -> None:
        opt, n_batches = self.opt, max(len(self.dls.train), 1)
        assert opt is not None
        self.model.train()
        for xb, yb in batches:
            if self.lr_schedule is not None:
                pos = (self.epoch + self.iter / n_batches) / self.n_epoch
                opt.lr = self.lr_schedule(self.lr, pos)
            self.xb, self.yb = xb, yb
            self._event("before_batch")
            self.loss = calc_grad(xb, yb, self.train_forward or self.model, self.loss_func).detach()
            opt.step()
            opt.zero_grad()
            self.batch_losses.append(self.loss)
            self.batch_sizes.append(len(yb))
            self.iter += 1
            self._event("after_batch")

    def epoch_losses(self) -> Tensor:
        """``(batches, 2)`` float32 rows ``(loss, size)`` of this epoch so far (one device sync)."""
        if not self.batch_losses:
            return torch.zeros(0, 2)
        sizes = torch.tensor(self.batch_sizes, dtype=torch.float32)
        return torch.stack([torch.stack(self.batch_losses).float().cpu(), sizes], dim=1)

    def _epoch_train_loss(self) -> float:
        """Mean training loss over the epoch's items; a TrainingError if it was NaN or infinite."""
        rows = self.epoch_losses().double()  # a sum of huge finite losses must not overflow
        value = float((rows[:, 0] * rows[:, 1]).sum()) / max(float(rows[:, 1].sum()), 1.0)
        if math.isfinite(value):
            return value
        bad = int((~torch.isfinite(rows[:, 0])).nonzero()[0, 0])
        raise TrainingError(
            f"the loss became {rows[bad, 0].item()} in epoch {self.epoch + 1}, batch {bad + 1}: "
            f"the learning rate ({self.lr:g}) is probably too high; try a lower --lr"
        )

    @torch.no_grad()
    def validate(self, dl: Iterable[Any] | None = None) -> dict[str, float]:
        """Loss and metrics over ``dl`` (default the validation set), averaged over items."""
        self.model.eval()
        names = ["valid_loss", *(m.__name__ for m in self.metrics)]
        sums, count = torch.zeros(()), 0
        for preds, yb in predictions(self.model, self.dls.valid if dl is None else dl):
            values = [self.loss_func(preds, yb), *(m(preds, yb) for m in self.metrics)]
            sums = sums + torch.stack([v.detach().float() for v in values]) * len(yb)
            count += len(yb)
        means = torch.as_tensor(sums).cpu() / max(count, 1)
        return dict(zip(names, means.reshape(-1).tolist(), strict=True))

    @torch.no_grad()
    def get_preds(self, dl: Iterable[Any] | None = None) -> tuple[Tensor, Tensor]:
        """Predictions and targets over ``dl`` (default the validation set), concatenated."""
        self.model.eval()
        pairs = list(predictions(self.model, self.dls.valid if dl is None else dl))
        preds, targets = zip(*((p.float().cpu(), y.cpu()) for p, y in pairs), strict=True)
        return torch.cat(preds), torch.cat(targets)
