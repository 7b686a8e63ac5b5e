"""Loss functions: fastbook chapter 4, "The MNIST loss function" and "Sigmoid".

The seed's loss scores *confidence*: ``torch.where(targets==1, 1-p, p).mean()``
moves smoothly as a weight moves, which accuracy does not. ``mnist_loss``
applies ``sigmoid`` first so any prediction becomes a probability. For ten
classes the same idea becomes softmax and cross-entropy, written here from
``log_softmax`` and negative log-likelihood, the book's chapter 5 way.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_same_shape(name: str, predictions: Tensor, targets: Tensor) -> None:
    """Refuse predictions and targets whose shapes differ.

    ``(n, 1)`` predictions against ``(n,)`` targets broadcast into an ``(n, n)``
    matrix: every prediction is compared with every target, the loss still
    decreases a little, and accuracy sits near 50% with no error. This is the
    classic silent bug of chapter 4; we stop it here.
    """
    if predictions.shape == targets.shape:
        return
    p, t = tuple(predictions.shape), tuple(targets.shape)
    hint = ""
    if len(p) == 2 and p[1] == 1 and t == (p[0],):
        hint = " (use targets.unsqueeze(1), as the seed's train_y does)"
    elif len(t) == 2 and t[1] == 1 and p == (t[0],):
        hint = " (use predictions.unsqueeze(1), or targets.squeeze(1))"
    raise ValueError(
        f"{name}: predictions of shape {p} and targets of shape {t} differ; they would "
        f"broadcast and silently compare every prediction with every target{hint}"
    )


def sigmoid(x: Tensor) -> Tensor:
    """``1/(1+exp(-x))``: any number to (0, 1), smoothly. Same shape as ``x``.

    For ``x < 0`` it uses the equal ``exp(x)/(1+exp(x))``, so ``exp`` never
    overflows: the seed's one-liner gives the right value at ``x = -1000`` but a
    NaN gradient (``inf/inf``), which would poison every weight it reaches.
    """
    e = torch.exp(torch.where(x >= 0, -x, x))  # exp(-|x|), in (0, 1]
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def mnist_loss_on_probs(predictions: Tensor, targets: Tensor) -> Tensor:
    """The seed's first loss, on predictions already in [0, 1] (no sigmoid).

    ``mnist_loss_on_probs(tensor([0.9, 0.4, 0.2]), tensor([1, 0, 1]))`` is
    ``tensor(0.4333)``: the mean of ``[0.1, 0.4, 0.8]``.
    """
    check_same_shape("mnist_loss_on_probs", predictions, targets)
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def mnist_loss(predictions: Tensor, targets: Tensor) -> Tensor:
    """The chapter's final loss: sigmoid, then distance from the right answer.

    Args:
        predictions: ``(n, 1)`` raw scores (any real number).
        targets: ``(n, 1)`` 1 for the positive class ("3"), 0 otherwise.
    Returns:
        A scalar in (0, 1).
    """
    check_same_shape("mnist_loss", predictions, targets)
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def binary_cross_entropy(predictions: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy for two classes on raw scores, stable for any score.

    ``-(t*log(sigmoid(x)) + (1-t)*log(1-sigmoid(x)))`` rewritten as
    ``max(x, 0) - x*t + log(1 + exp(-|x|))`` so that ``x = ±1000`` stays finite.
    ``max(x, 0)`` is written ``(x + |x|)/2`` so the gradient at ``x = 0`` is the
    true ``sigmoid(0) - t`` (``clamp`` would give ``1 - t`` there). Shapes as :func:`mnist_loss`.
    """
    check_same_shape("binary_cross_entropy", predictions, targets)
    x, t = predictions, targets.to(predictions.dtype)
    return ((x + x.abs()) / 2 - x * t + torch.log1p(torch.exp(-x.abs()))).mean()


def softmax(x: Tensor) -> Tensor:
    """``exp(x) / exp(x).sum(-1)``, after subtracting the row maximum so nothing overflows.

    ``(n, k)`` scores -> ``(n, k)`` probabilities that sum to 1 along the last dimension.
    """
    exps = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return exps / exps.sum(dim=-1, keepdim=True)


def log_softmax(x: Tensor) -> Tensor:
    """``log(softmax(x))`` without computing ``softmax`` (which underflows to log(0)).

    Uses ``log(sum(exp(x))) = m + log(sum(exp(x - m)))`` with ``m`` the row maximum.
    ``(n, k)`` -> ``(n, k)``.
    """
    m = x.max(dim=-1, keepdim=True).values
    return x - m - torch.log(torch.exp(x - m).sum(dim=-1, keepdim=True))


def nll_loss(log_probs: Tensor, targets: Tensor) -> Tensor:
    """Negative log-likelihood: minus the log-probability of each right class, averaged.

    Args:
        log_probs: ``(n, k)``.
        targets: ``(n,)`` int64 class indices.
    """
    if log_probs.ndim != 2 or targets.shape != log_probs.shape[:1]:
        raise ValueError(
            f"nll_loss needs (n, k) log-probabilities and (n,) class indices, got "
            f"{tuple(log_probs.shape)} and {tuple(targets.shape)}"
        )
    return -log_probs[torch.arange(len(targets), device=targets.device), targets].mean()


def cross_entropy(predictions: Tensor, targets: Tensor) -> Tensor:
    """Softmax, log, and negative log-likelihood in one: the loss for ``k`` classes.

    ``(n, k)`` raw scores and ``(n,)`` int64 class indices -> a scalar.
    """
    return nll_loss(log_softmax(predictions), targets)


def label_smoothing(predictions: Tensor, targets: Tensor, eps: float = 0.1) -> Tensor:
    """Cross-entropy against softened targets: ``1 - eps`` on the right class, ``eps`` spread.

    fastai's ``LabelSmoothingCrossEntropy`` (book chapter 7): the model is never pushed
    to be infinitely sure, which helps it generalise. Same value as
    ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``.
    ``(n, k)`` raw scores and ``(n,)`` int64 class indices -> a scalar.
    """
    log_probs = log_softmax(predictions)
    return (1 - eps) * nll_loss(log_probs, targets) - eps * log_probs.mean()
