"""Metrics for people: fastbook chapter 4, "Putting it all together".

The loss is for the optimiser; a metric is what we report each epoch. Every
metric returns the *mean* over the batch; the Learner weights it by batch
size so an epoch's figure is a mean over items, not batches.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mnist_sgd.loss import check_same_shape


def batch_accuracy(xb: Tensor, yb: Tensor) -> Tensor:
    """The chapter's metric: share of ``(sigmoid(xb) > 0.5) == yb``.

    Args:
        xb: ``(n, 1)`` raw scores of a binary model.
        yb: ``(n, 1)`` 1 for the positive class, 0 otherwise.
    """
    check_same_shape("batch_accuracy", xb, yb)
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


def accuracy(xb: Tensor, yb: Tensor) -> Tensor:
    """Multi-class accuracy: share of ``xb.argmax(1) == yb``.

    Args:
        xb: ``(n, k)`` scores; yb: ``(n,)`` int64 class indices.
    """
    if xb.ndim != 2 or yb.shape != xb.shape[:1]:
        raise ValueError(
            f"accuracy needs (n, k) scores and (n,) class indices, got "
            f"{tuple(xb.shape)} and {tuple(yb.shape)}"
        )
    return (xb.argmax(dim=1) == yb).float().mean()


def predicted_labels(xb: Tensor) -> Tensor:
    """Class indices from scores: ``(n, 1)`` binary -> 0 for positive ("3"); ``(n, k)`` -> argmax.

    For a binary model the positive class is class 0 (MNIST_SAMPLE's "3"),
    so a score above 0 means label 0.
    """
    if xb.ndim == 2 and xb.shape[1] == 1:
        return (xb[:, 0] <= 0).long()
    return xb.argmax(dim=1)


def probabilities(xb: Tensor) -> Tensor:
    """``(n, k)`` class probabilities from scores; a binary ``(n, 1)`` gives ``(n, 2)``."""
    if xb.ndim == 2 and xb.shape[1] == 1:
        p = xb.sigmoid()
        return torch.cat([p, 1 - p], dim=1)
    return xb.softmax(dim=1)


def confusion_matrix(preds: Tensor, targets: Tensor, n_classes: int) -> Tensor:
    """``(k, k)`` int64 counts; row = true class, column = predicted class.

    Args:
        preds, targets: ``(n,)`` int64 class indices.
    """
    index = targets.long() * n_classes + preds.long()
    return torch.bincount(index, minlength=n_classes * n_classes).view(n_classes, n_classes)


def per_class_accuracy(matrix: Tensor) -> Tensor:
    """``(k,)`` float: a confusion matrix's diagonal over its row sums (nan: class absent)."""
    totals = matrix.sum(dim=1).double()
    return matrix.diagonal().double() / totals


METRICS = {"batch_accuracy": batch_accuracy, "accuracy": accuracy}
