"""Metrics for people, and evaluation: fastbook chapter 4, "Putting it all together".

The loss is for the optimiser; a metric is what we report each epoch. Every
metric returns the *mean* over the batch; the Learner weights it by batch
size so an epoch's figure is a mean over items, not batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from mnist_sgd.core.data import (
    DataLoader,
    ImageDataset,
    binary_columns,
    binary_labels,
    binary_target,
)
from mnist_sgd.core.loss import check_same_shape


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
    """Class indices from scores: ``(n, k)`` -> argmax; a binary ``(n, 1)``: a score above 0
    is ``core.data.POSITIVE`` (MNIST_SAMPLE's "3")."""
    if xb.ndim == 2 and xb.shape[1] == 1:
        return binary_labels(xb > 0)
    return xb.argmax(dim=1)


def probabilities(xb: Tensor) -> Tensor:
    """``(n, k)`` class probabilities from scores; a binary ``(n, 1)`` gives ``(n, 2)``."""
    if xb.ndim == 2 and xb.shape[1] == 1:
        return binary_columns(xb.sigmoid())
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


def predictions(
    model: Callable[[Tensor], Tensor], dl: Iterable[Any], device: torch.device | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """The one forward pass over a ``DataLoader``: each batch's ``(model(xb), yb)``.

    ``validate_epoch``, ``Learner.validate``, ``Learner.get_preds`` and
    :func:`evaluate_model` all go through here; ``xb`` is moved to ``device`` if given.
    Gradients are the caller's business (they run under ``torch.no_grad()``).
    """
    for xb, yb in dl:
        yield model(xb if device is None else xb.to(device)), yb


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    binary: bool,
    flat: bool,
    loss: Callable[[Tensor, Tensor], Tensor],
    bs: int = 2048,
) -> dict[str, Any]:
    """Loss, accuracy, per-class accuracy and confusion matrix of ``model`` on labelled images.

    Args:
        images: ``(n, 28, 28)`` uint8; labels: ``(n,)`` int64 class indices.
        binary: the model has one output (``core.data.POSITIVE`` against the other class).
        loss: the loss function (``config.registry.get_loss(name)``).
    Returns:
        ``{"loss", "accuracy", "per_class", "confusion", "preds", "probs"}`` with
        ``confusion`` ``(k, k)`` int64 (row = true class) and ``probs`` ``(n, k)``.
    """
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    dataset = ImageDataset(images, binary_target(labels) if binary else labels, flatten=flat)
    loader = DataLoader(dataset, batch_size=bs)
    scores = torch.cat([xb.float().cpu() for xb, _ in predictions(model, loader, device)])
    targets = dataset.tensors[1]
    loss_value = float(loss(scores, targets))
    preds = predicted_labels(scores)
    k = 2 if binary else scores.shape[1]
    matrix = confusion_matrix(preds, labels, k)
    return {
        "loss": loss_value,
        "accuracy": float((preds == labels).float().mean()),
        "per_class": per_class_accuracy(matrix).tolist(),
        "confusion": matrix,
        "preds": preds,
        "probs": probabilities(scores),
    }
