"""The learning-rate finder: train briefly with a growing lr and watch the loss.

Beyond fastbook chapter 4, which picks ``lr`` by hand (chapter 5 introduces
``lr_find``). Starting from a tiny lr, each mini-batch multiplies it by the
same factor; the loss first barely moves, then falls, then explodes. A good
lr sits where the loss falls fastest, well before the minimum. Leslie Smith's
method, as fastai runs it: smoothed losses, stop when the loss diverges, and
the model's weights are put back afterwards.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import torch

from mnist_sgd.data import DataLoader
from mnist_sgd.learner import Learner, calc_grad


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


def lr_find(
    learn: Learner,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
    beta: float = 0.98,
) -> LRFindResult:
    """Run the finder on ``learn``'s training data; ``learn``'s model is left as it was.

    Args:
        start_lr, end_lr: the range of lrs, tried geometrically over ``num_it`` batches.
        num_it: how many mini-batches (the training set is cycled if it has fewer).
        stop_div: stop once the smoothed loss is over 4x its minimum or not finite.
        beta: the smoothing of the loss (an exponential moving average).
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_it < 5:
        raise ValueError(f"num_it must be >= 5, got {num_it}")
    saved = _save(learn)
    try:
        lrs, losses = _sweep(learn, start_lr, end_lr, num_it, stop_div, beta)
    finally:
        _restore(learn, saved)
    if len(losses) < 3:
        raise ValueError(
            f"the loss diverged after {len(losses)} batches; try a smaller start_lr than {start_lr}"
        )
    return LRFindResult(
        lrs, losses, valley(lrs, losses), steepest(lrs, losses), minimum(lrs, losses)
    )


def _sweep(
    learn: Learner, start_lr: float, end_lr: float, num_it: int, stop_div: bool, beta: float
) -> tuple[list[float], list[float]]:
    """Train ``num_it`` batches with a growing lr; return the lrs and smoothed losses."""
    opt = learn.opt_func(learn.model.parameters(), start_lr)
    learn.model.train()
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    for i, (xb, yb) in enumerate(_cycle(learn.dls.train, num_it)):
        opt.lr = start_lr * (end_lr / start_lr) ** (i / (num_it - 1))
        loss = float(calc_grad(xb, yb, learn.model, learn.loss_func).detach())
        opt.step()
        opt.zero_grad()
        average = beta * average + (1 - beta) * loss
        smoothed = average / (1 - beta ** (i + 1))
        if stop_div and (not math.isfinite(smoothed) or smoothed > 4 * best):
            break
        lrs.append(opt.lr)
        losses.append(smoothed)
        best = min(best, smoothed)
    return lrs, losses


def _cycle(dl: Any, n: int) -> Any:
    """``n`` batches from ``dl``, starting over when an epoch ends."""
    count = 0
    while count < n:
        for batch in dl:
            yield batch
            count += 1
            if count == n:
                return
        if count == 0:
            raise ValueError("the training DataLoader yields no batches")


def _save(learn: Learner) -> dict[str, Any]:
    """The model's weights and buffers, the RNGs, and the train/eval mode."""
    dl = learn.dls.train
    return {
        "model": deepcopy(learn.model.state_dict()),
        "training": learn.model.training,
        "rng": torch.get_rng_state(),
        "loader_rng": dl.rng_state() if isinstance(dl, DataLoader) else None,
    }


def _restore(learn: Learner, saved: dict[str, Any]) -> None:
    """Put back what :func:`_save` kept: ``learn`` trains afterwards as if never probed."""
    learn.model.load_state_dict(saved["model"])
    learn.model.train(saved["training"])
    for p in learn.model.parameters():
        p.grad = None
    torch.set_rng_state(saved["rng"])
    if saved["loader_rng"] is not None:
        learn.dls.train.set_rng_state(saved["loader_rng"])


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
