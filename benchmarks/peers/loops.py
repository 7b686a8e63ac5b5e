"""Reference training loops in plain PyTorch, shared by our process and the fastai peer's.

Only ``torch`` is imported, so the same code runs in the project's venv and in
the peer venv (a different torch version): each process measures its own bare
loop, and every peer's time is divided by the bare loop of *its* process, which
cancels the difference between the two processes and torch versions.

Data: ``train_x`` ``(n, 784)`` float32 in [0, 1], ``train_y`` ``(n, 1)`` int64
(1 = "3"), the seed's tensors; likewise ``valid_x``, ``valid_y``.
Every ``fit_*`` trains a fresh model for ``epochs`` epochs (each epoch: shuffle,
train, then validation loss and accuracy, as a ``Learner`` does) and returns
``(seconds per epoch, final validation accuracy)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

LR = {"linear": 1.0, "simple_net": 0.1}  # the book's learning rates


class Linear1(nn.Module):
    """The seed's ``xb@weights + bias`` with ``init_params`` (std 1): ``(n, 784)`` -> ``(n, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(28 * 28, 1))
        self.bias = nn.Parameter(torch.randn(1))

    def forward(self, xb: Tensor) -> Tensor:
        return xb @ self.weights + self.bias


def new_model(name: str, seed: int) -> nn.Module:
    """The seed's linear model or ``simple_net``, initialised from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    if name == "linear":
        return Linear1()
    if name == "simple_net":
        return nn.Sequential(nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))
    raise ValueError(f"unknown model {name!r}; choose linear or simple_net")


def mnist_loss(preds: Tensor, targets: Tensor) -> Tensor:
    """The seed's loss: ``where(t==1, 1-sigmoid(p), sigmoid(p)).mean()``; ``(n, 1)`` each."""
    preds = preds.sigmoid()
    return torch.where(targets == 1, 1 - preds, preds).mean()


@torch.no_grad()
def accuracy(model: nn.Module, valid_x: Tensor, valid_y: Tensor) -> float:
    """Share of ``(sigmoid(model(x)) > 0.5) == y`` over the whole validation set."""
    return float(((model(valid_x).sigmoid() > 0.5) == valid_y).float().mean())


@torch.no_grad()
def validate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Validation loss and accuracy over batches, as a Learner records them; returns accuracy."""
    loss, correct, count = torch.zeros(()), torch.zeros(()), 0
    for xb, yb in batches:
        preds = model(xb)
        loss += mnist_loss(preds, yb) * len(yb)
        correct += ((preds.sigmoid() > 0.5) == yb).sum()
        count += len(yb)
    return float(correct) / count


def step_function(model: nn.Module, name: str, lr: float) -> Callable[[], None]:
    """The update: the seed's ``p.data -= p.grad*lr`` for linear, ``torch.optim.SGD`` otherwise."""
    params = list(model.parameters())
    if name == "linear":

        @torch.no_grad()
        def step() -> None:
            for p in params:
                p -= p.grad * lr
                p.grad = None

        return step
    opt = torch.optim.SGD(params, lr=lr)

    def torch_step() -> None:
        opt.step()
        opt.zero_grad()

    return torch_step


def _timed_fit(
    model: nn.Module,
    step: Callable[[], None],
    epoch_batches: Callable[[], Iterable[Any]],
    valid: Callable[[], float],
    epochs: int,
) -> tuple[float, float]:
    """Run ``epochs`` epochs of (batches, step, validate); ``(seconds/epoch, accuracy)``.

    Each epoch does what a ``Learner`` records: the mean training loss (losses
    kept as tensors, one sync per epoch), then validation loss and accuracy.
    """
    acc = 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        losses = []
        for xb, yb in epoch_batches():
            loss = mnist_loss(model(xb), yb)
            loss.backward()
            step()
            losses.append(loss.detach())
        float(torch.stack(losses).mean())
        acc = valid()
    return (time.perf_counter() - start) / epochs, acc


def fit_bare(
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    name: str,
    epochs: int,
    bs: int = 256,
    seed: int = 42,
    gather: str = "index",
) -> tuple[float, float]:
    """The bare tensor-index loop: ``perm = randperm(n)``; ``train_x[perm[i:i+bs]]``.

    ``gather="index_select"`` gathers with ``index_select`` instead (same values,
    faster on CPU): the bare-tensor limit.
    """
    train_x, train_y, valid_x, valid_y = data
    model = new_model(name, seed)
    step = step_function(model, name, LR[name])
    generator = torch.Generator().manual_seed(seed)
    n = len(train_x)

    def batches() -> Iterable[tuple[Tensor, Tensor]]:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            if gather == "index_select":
                yield train_x.index_select(0, idx), train_y.index_select(0, idx)
            else:
                yield train_x[idx], train_y[idx]

    def valid() -> float:
        return validate(
            model, ((valid_x[i : i + bs], valid_y[i : i + bs]) for i in range(0, len(valid_x), bs))
        )

    return _timed_fit(model, step, batches, valid, epochs)


def fit_loader(
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    name: str,
    epochs: int,
    make_loader: Callable[[list[tuple[Tensor, Tensor]], bool], Iterable[Any]],
    seed: int = 42,
) -> tuple[float, float]:
    """The same loop fed by a DataLoader over the seed's ``list(zip(train_x, train_y))``.

    ``make_loader(dataset, shuffle)`` builds the loader (torch's, fastai's, ours);
    validation goes through a second loader, as in the book.
    """
    train_x, train_y, valid_x, valid_y = data
    model = new_model(name, seed)
    step = step_function(model, name, LR[name])
    train_dl = make_loader(list(zip(train_x, train_y, strict=True)), True)
    valid_dl = make_loader(list(zip(valid_x, valid_y, strict=True)), False)

    return _timed_fit(model, step, lambda: train_dl, lambda: validate(model, valid_dl), epochs)


def best_per_epoch(
    contenders: dict[str, Callable[[], tuple[float, float]]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Run each contender ``rounds`` times, interleaved; keep its fastest ``(s/epoch, acc)``.

    Interleaving spreads a busy machine's noise over every contender alike;
    the minimum is the least disturbed run.
    """
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for key, fit in contenders.items():
            result = fit()
            if key not in best or result[0] < best[key][0]:
                best[key] = result
    return best
