"""The learning-rate finder: train briefly with a growing lr and watch the loss.

Beyond fastbook chapter 4, which picks ``lr`` by hand (chapter 5 introduces
``lr_find``). Starting from a tiny lr, each mini-batch multiplies it by the
same factor; the loss first barely moves, then falls, then explodes. A good
lr sits where the loss falls fastest, well before the minimum. Leslie Smith's
method, as fastai runs it: a callback on ``Learner.fit`` (:class:`LRFinder`),
smoothed losses, stop when the loss diverges (``CancelFitException``), and the
model's weights and the random state put back afterwards.

The defaults differ from fastai's (``1e-7..10``, 100 batches, ``beta=0.98``):
the seed's model (a linear model under the sigmoid ``mnist_loss``) has a
bounded loss that has not turned by ``lr=10``, and a 0.98 moving average lags
about 50 batches, so fastai's settings suggest 0.29 where the book's 1.0
trains better. Over ``1e-7..100`` in 200 batches with ``beta=0.95`` (a lag of
about 19 batches) the suggestion is 0.75-1.7 for the seed's model over five
seeds, 0.14 for ``simple_net`` (the book uses 0.1), and still stops early
where the loss explodes (a CNN with Adam: about 5e-4).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mnist_sgd.callbacks.precision import MixedPrecision
from mnist_sgd.core.callback import Callback, CancelFitException
from mnist_sgd.core.data import DataLoader

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner

START_LR, END_LR, NUM_IT, BETA = 1e-7, 100.0, 200, 0.95


@dataclass(frozen=True)
class LRFindResult:
    """What the finder saw: one smoothed loss per lr tried, and three suggestions.

    Attributes:
        lrs, losses: equal-length lists, lrs growing geometrically.
        valley: fastai's default: a point in the longest stretch of falling loss.
        steepest: where the loss falls fastest against ``log(lr)``.
        minimum: the lr with the lowest loss, divided by 10.
    """

    lrs: list[float]
    losses: list[float]
    valley: float
    steepest: float
    minimum: float

    @property
    def suggestion(self) -> float:
        """The lr to use: ``valley``."""
        return self.valley


class LRFinder(Callback):
    """Drives ``Learner.fit`` as the finder: a growing lr each batch, stop when done or diverged.

    ``before_fit`` keeps the weights, buffers and RNG states;
    ``after_fit`` puts it back, so the learner trains afterwards as if never
    probed. Ends the fit with :class:`CancelFitException`.
    """

    def __init__(
        self, start_lr: float, end_lr: float, num_it: int, stop_div: bool, beta: float
    ) -> None:
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.stop_div, self.beta = stop_div, beta
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.saved: dict[str, Tensor] = {}
        self.rngs: tuple[Tensor, Tensor | None] = (torch.get_rng_state(), None)
        self.training, self.average, self.best = True, 0.0, math.inf

    def before_fit(self, learn: Learner) -> None:
        self.saved = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
        dl = learn.dls.train  # the RNGs before any draw: the batches' order comes after
        self.rngs = (torch.get_rng_state(), dl.rng_state() if isinstance(dl, DataLoader) else None)
        self.training = learn.model.training
        self.lrs, self.losses, self.average, self.best = [], [], 0.0, math.inf

    def before_batch(self, learn: Learner) -> None:
        assert learn.opt is not None
        step = len(self.lrs) / (self.num_it - 1)
        learn.opt.lr = self.start_lr * (self.end_lr / self.start_lr) ** step

    def after_batch(self, learn: Learner) -> None:
        assert learn.opt is not None
        i = len(self.lrs)
        self.average = self.beta * self.average + (1 - self.beta) * float(learn.loss)
        smoothed = self.average / (1 - self.beta ** (i + 1))
        diverged = not math.isfinite(smoothed) or (self.stop_div and smoothed > 4 * self.best)
        if diverged:
            raise CancelFitException
        self.lrs.append(learn.opt.lr)
        self.losses.append(smoothed)
        self.best = min(self.best, smoothed)
        if len(self.lrs) == self.num_it:
            raise CancelFitException

    def after_fit(self, learn: Learner) -> None:
        learn.model.load_state_dict(self.saved)
        learn.model.train(self.training)
        for p in learn.model.parameters():
            p.grad = None
        torch.set_rng_state(self.rngs[0])
        if self.rngs[1] is not None and isinstance(learn.dls.train, DataLoader):
            learn.dls.train.set_rng_state(self.rngs[1])


def lr_find(
    learn: Learner,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    num_it: int = NUM_IT,
    stop_div: bool = True,
    beta: float = BETA,
    cbs: Sequence[Callback] = (),
) -> LRFindResult:
    """Run the finder on ``learn``'s training data; ``learn`` is left as it was.

    The finder is a callback on a copy of ``learn`` (same model and data, its
    own optimiser, history and callbacks), driven by ``fit``.

    Args:
        start_lr, end_lr: the range of lrs, tried geometrically over ``num_it`` batches.
        num_it: how many mini-batches (the training set is cycled if it has fewer).
        stop_div: stop once the smoothed loss is over 4x its minimum (always when not finite).
        beta: the smoothing of the loss (an exponential moving average).
        cbs: more callbacks for the finder's fit (a progress bar).
    """
    n_batches = _check(learn, start_lr, end_lr, num_it)
    finder = LRFinder(start_lr, end_lr, num_it, stop_div, beta)
    probe = copy.copy(learn)  # fit() sets its own opt, history, epoch; learn keeps its own
    kept = [cb for cb in learn.cbs if isinstance(cb, MixedPrecision)]  # the fit's precision
    probe.cbs, probe.lr_schedule = [*kept, *cbs, finder], None
    probe.fit(-(-num_it // n_batches), lr=start_lr)
    lrs, losses = finder.lrs, finder.losses
    if len(losses) < 3:
        raise ValueError(
            f"the loss diverged after {len(losses)} batches; try a smaller start_lr than {start_lr}"
        )
    return LRFindResult(
        lrs, losses, valley(lrs, losses), steepest(lrs, losses), minimum(lrs, losses)
    )


def _check(learn: Learner, start_lr: float, end_lr: float, num_it: int) -> int:
    """The training set's batch count, after checking the arguments (ValueError naming them)."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_it < 5:
        raise ValueError(f"num_it must be >= 5, got {num_it}")
    if len(learn.dls.train) == 0:
        raise ValueError("the training DataLoader yields no batches")
    return len(learn.dls.train)


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's ``valley``: inside the longest falling stretch, about two thirds of the way down.

    Finds the longest strictly decreasing subsequence of ``losses`` and returns
    the lr a half-section past its first third.
    """
    n = len(losses)
    run = [1] * n  # run[i]: longest decreasing subsequence ending at i
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[end] < run[i]:
            end = i
            start = end - run[end]
    section = (end - start) / 3
    return lrs[min(max(start + int(section) + int(section / 2), 0), n - 1)]


def steepest(lrs: list[float], losses: list[float]) -> float:
    """The lr where the loss falls fastest against ``log(lr)`` (central differences)."""
    logs = [math.log(lr) for lr in lrs]
    slopes = [
        (losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1])
        for i in range(1, len(lrs) - 1)
    ]
    return lrs[1 + min(range(len(slopes)), key=slopes.__getitem__)]


def minimum(lrs: list[float], losses: list[float]) -> float:
    """The lr with the lowest loss, divided by 10 (the old rule of thumb)."""
    return lrs[min(range(len(losses)), key=losses.__getitem__)] / 10
