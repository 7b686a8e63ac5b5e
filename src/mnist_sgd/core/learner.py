"""Training: fastbook chapter 4, "Putting it all together".

The seven steps, in the chapter's functions (``calc_grad``, ``train_epoch``,
``validate_epoch``), then the same loop as a ``Learner`` with named events for
callbacks. The library prints nothing: ``fit`` returns one record per epoch,
and a callback (the CLI's progress bar, a checkpointer) sees every event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from mnist_sgd.callbacks.lr_find import BETA, END_LR, NUM_IT, START_LR, LRFindResult, lr_find
from mnist_sgd.callbacks.precision import autocast_forward
from mnist_sgd.callbacks.progress import NotebookProgress, in_notebook, notebook_callbacks
from mnist_sgd.core.callback import EVENTS as EVENTS  # re-exported: learner was their home
from mnist_sgd.core.callback import Callback, CancelFitException
from mnist_sgd.core.data import DataLoader, DataLoaders
from mnist_sgd.core.loss import mnist_loss
from mnist_sgd.core.metrics import batch_accuracy, predictions
from mnist_sgd.core.optim import SGD, BasicOptim
from mnist_sgd.core.recorder import Recorder
from mnist_sgd.errors import TrainingError
from mnist_sgd.predict.predictor import predict

if TYPE_CHECKING:
    from pathlib import Path

    from mnist_sgd.images import ImageSource

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
        dls: ``DataLoaders`` (``dls.train``, ``dls.valid``).
        model: maps a batch ``xb`` to predictions.
        opt_func: ``opt_func(params, lr)`` builds the optimiser (default ``SGD``).
        loss_func: ``loss_func(preds, yb)`` -> scalar (default ``mnist_loss``).
        metrics: one metric or several, each ``metric(preds, yb)`` -> mean over the batch.
        cbs: callbacks, called in order at each event (after ``learn.recorder``
            and, in Jupyter, the progress table of :mod:`mnist_sgd.callbacks.progress`).
        lr_schedule: ``lr_schedule(lr, pos)`` -> lr for a batch at ``pos`` in [0, 1) of the fit.
        autocast: a dtype (``torch.bfloat16``) for the training forward pass under
            ``torch.autocast`` (:mod:`mnist_sgd.callbacks.precision`); None (default): float32.
    """

    def __init__(
        self,
        dls: DataLoaders,
        model: nn.Module,
        opt_func: Callable[..., BasicOptim] = SGD,
        loss_func: LossFunc = mnist_loss,
        metrics: Metric | Sequence[Metric] = batch_accuracy,
        cbs: Sequence[Callback] = (),
        lr_schedule: Callable[[float, float], float] | None = None,
        autocast: torch.dtype | None = None,
    ) -> None:
        self.dls, self.model, self.opt_func, self.loss_func = dls, model, opt_func, loss_func
        self.metrics = [metrics] if callable(metrics) else list(metrics)
        self.recorder = Recorder()  # learn.recorder.values, .losses, .plot_loss()
        self.cbs = [self.recorder, *notebook_callbacks(), *cbs]
        self.lr_schedule = lr_schedule
        self.autocast = autocast
        self.opt: BasicOptim | None = None
        self.history: list[dict[str, float]] = []
        self.epoch, self.iter, self.n_epoch, self.lr = 0, 0, 0, 0.0
        self.loss: Tensor = torch.tensor(0.0)
        self.epoch_rng: Tensor | None = None  # RNG state this epoch's order was drawn from
        self._batch_losses: list[Tensor] = []
        self._batch_sizes: list[int] = []
        self._carried = torch.zeros(0, 2)  # (loss, size) rows of a resumed epoch's earlier batches
        # the weights before any step: "what SGD learned" is the change from these
        self.initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def fit(self, n_epoch: int, lr: float = 1.0, *, resume: bool = False) -> list[dict[str, float]]:
        """Train for ``n_epoch`` epochs; return the history, one record per epoch.

        Each record: ``epoch`` (numbered from 1), ``train_loss``, ``valid_loss``, one entry per
        metric (by its ``__name__``), ``seconds``. With ``resume=True`` (after
        :meth:`load_state`, or after a ``CancelFitException``) it goes on from
        the saved epoch and batch, with the same batches and steps as a run
        that was never stopped.
        """
        if n_epoch < 1:
            raise ValueError(f"n_epoch must be >= 1, got {n_epoch}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.n_epoch, self.lr = n_epoch, lr
        if not resume or self.opt is None:
            self.opt = self.opt_func(self.model.parameters(), lr)
            self.history, self.epoch, self.iter = [], 0, 0
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
        self._event("before_epoch")
        self._train_one_epoch()
        record = {"epoch": float(self.epoch + 1), "train_loss": self._epoch_train_loss()}
        record.update(self.validate())
        record["seconds"] = time.perf_counter() - start
        self.history.append(record)
        self.epoch, self.iter = self.epoch + 1, 0
        self._event("after_epoch")

    def _train_one_epoch(self) -> None:
        dl, opt = self.dls.train, self.opt
        assert opt is not None
        if self.iter == 0:
            self._batch_losses, self._batch_sizes, self._carried = [], [], torch.zeros(0, 2)
        batches = self._epoch_batches(dl) if isinstance(dl, DataLoader) else iter(dl)
        n_batches = max(len(dl), 1)
        self.model.train()
        for xb, yb in batches:
            if self.lr_schedule is not None:
                opt.lr = self.lr_schedule(
                    self.lr, (self.epoch + self.iter / n_batches) / self.n_epoch
                )
            self.xb, self.yb = xb, yb
            self._event("before_batch")
            self.loss = calc_grad(xb, yb, self._train_forward, self.loss_func).detach()
            opt.step()
            opt.zero_grad()
            self._batch_losses.append(self.loss)
            self._batch_sizes.append(len(yb))
            self.iter += 1
            self._event("after_batch")

    def _train_forward(self, xb: Tensor) -> Tensor:
        """A training batch's predictions: the model's, under autocast if one was asked for."""
        if self.autocast is None:
            return self.model(xb)
        return autocast_forward(self.model, xb, self.autocast)

    def _epoch_batches(self, dl: DataLoader) -> Iterator[Any]:
        """This epoch's batches; resuming mid-epoch, the same order from the next batch on."""
        own = dl.rng_state()  # None: the loader shuffles with the global RNG
        if self.iter == 0:
            self.epoch_rng = own if own is not None else torch.get_rng_state()
            return dl.batches(order=dl.order())
        if self.epoch_rng is None:
            raise TrainingError("cannot resume mid-epoch: the saved state has no 'rng.epoch'")
        if own is not None:
            dl.set_rng_state(self.epoch_rng)
            return dl.batches(self.iter, order=dl.order())
        now = torch.get_rng_state()  # draw the order again without moving the global RNG
        torch.set_rng_state(self.epoch_rng)
        order = dl.order()
        torch.set_rng_state(now)
        return dl.batches(self.iter, order=order)

    def _epoch_losses(self) -> Tensor:
        """``(batches, 2)`` float32 rows ``(loss, size)`` of this epoch so far (one device sync)."""
        if not self._batch_losses:
            return self._carried
        sizes = torch.tensor(self._batch_sizes, dtype=torch.float32)
        losses = torch.stack(self._batch_losses).float().cpu()
        return torch.cat([self._carried, torch.stack([losses, sizes], dim=1)])

    def _epoch_train_loss(self) -> float:
        """Mean training loss over the epoch's items; a TrainingError if it was NaN or infinite."""
        rows = self._epoch_losses().double()  # a sum of huge finite losses must not overflow
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
        sums: Tensor | float = 0.0
        count = 0
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
        preds, targets = [], []
        for xb_preds, yb in predictions(self.model, self.dls.valid if dl is None else dl):
            preds.append(xb_preds.float().cpu())
            targets.append(yb.cpu())
        return torch.cat(preds), torch.cat(targets)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Everything needed to resume: named tensors and JSON-able facts."""
        assert self.opt is not None, "state() needs fit() to have started"
        # copies: a state kept in memory must not follow the training that goes on
        model, opt = self.model.state_dict(), self.opt.state_tensors()
        tensors = {f"model.{k}": v.detach().cpu().clone() for k, v in model.items()}
        tensors.update({f"opt.{k}": v.detach().cpu().clone() for k, v in opt.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        loader_rng = self._loader_rng()
        if loader_rng is not None:
            tensors["rng.loader"] = loader_rng
        if self.iter and self.epoch_rng is not None:
            tensors["rng.epoch"] = self.epoch_rng.clone()
            tensors["epoch.losses"] = self._epoch_losses()
        facts = {
            "epoch": self.epoch,
            "iter": self.iter,
            "history": [dict(record) for record in self.history],
            "lr": self.lr,
            "n_epoch": self.n_epoch,
        }
        return tensors, facts

    def _loader_rng(self) -> Tensor | None:
        dl = self.dls.train
        return dl.rng_state() if isinstance(dl, DataLoader) else None

    def load_state(self, tensors: dict[str, Tensor], facts: dict[str, Any], lr: float) -> None:
        """Restore :meth:`state`, then ``fit(..., resume=True)`` goes on where it stopped."""
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(model_state)
        self.opt = self.opt_func(self.model.parameters(), lr)
        self.opt.load_state_tensors({k[4:]: v for k, v in tensors.items() if k.startswith("opt.")})
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.loader" in tensors and isinstance(self.dls.train, DataLoader):
            self.dls.train.set_rng_state(tensors["rng.loader"])
        self.epoch_rng = tensors.get("rng.epoch")
        self.epoch, self.iter = int(facts["epoch"]), int(facts["iter"])
        self.history = [dict(record) for record in facts["history"]]
        self._carried = tensors.get("epoch.losses", torch.zeros(0, 2)).clone()
        self._batch_losses, self._batch_sizes = [], []

    # --- the notebook's verbs (fastai's names); each lives in its own module --------------

    def lr_find(
        self,
        start_lr: float = START_LR,
        end_lr: float = END_LR,
        num_it: int = NUM_IT,
        stop_div: bool = True,
        beta: float = BETA,
        show_plot: bool = True,
    ) -> LRFindResult:
        """The learning-rate finder (:mod:`mnist_sgd.callbacks.lr_find`); the learner is left as it was.

        In a notebook it shows a progress bar and the plot; ``.suggestion`` is the lr to use.
        """
        bar = [NotebookProgress(table=False)] if in_notebook() else []
        result = lr_find(self, start_lr, end_lr, num_it, stop_div, beta, cbs=bar)
        if show_plot and in_notebook():
            result.show()
        return result

    def predict(self, item: ImageSource | Tensor) -> tuple[str, int, Tensor]:
        """``(label, index, probabilities)`` for one image file or ``(28, 28)`` tensor."""
        return predict(self, item)

    def show_results(self, n: int = 9, ncols: int = 3) -> Any:
        """The first ``n`` validation images, ``actual/predicted`` over each."""
        from mnist_sgd.pictures.interpret import (
            show_results,  # pictures: matplotlib only when asked
        )

        return show_results(self, n, ncols)

    def export(self, path: str | Path, **facts: Any) -> Path:
        """Write a run folder that ``mnist-sgd predict``/``evaluate``/``report``/``serve`` read.

        See :func:`mnist_sgd.runs.export.export` for ``facts`` (dataset, classes, loss).
        """
        from mnist_sgd.runs.export import export  # runs imports this module

        return export(self, path, **facts)
