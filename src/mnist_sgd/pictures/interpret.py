"""What the model gets wrong: fastai's ``ClassificationInterpretation``, and ``show_results``.

``Interpretation.from_learner(learn)`` runs the model over the validation set
once (``learn.get_preds``) and keeps each item's image, prediction, target and
loss: ``confusion_matrix()``, ``plot_confusion_matrix()``, ``most_confused()``
and ``plot_top_losses(k)`` (each with its loss), the "worst mistakes".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mnist_sgd.core.data import binary_labels
from mnist_sgd.core.metrics import confusion_matrix, probabilities
from mnist_sgd.pictures.show import show_images
from mnist_sgd.predict.predictor import default_classes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from mnist_sgd.core.learner import Learner


@dataclass
class Interpretation:
    """Per item of a data set: ``inputs`` (as the model saw them), ``probs`` ``(n, k)``,
    ``pred``/``actual`` class indices ``(n,)``, ``losses`` ``(n,)``; ``classes`` their names."""

    inputs: Tensor
    probs: Tensor
    pred: Tensor
    actual: Tensor
    losses: Tensor
    classes: list[str]

    @classmethod
    def from_learner(cls, learn: Learner, dl: Iterable[Any] | None = None) -> Interpretation:
        """Score ``dl`` (default the validation set) once with ``learn``'s model and loss."""
        data = learn.dls.valid if dl is None else dl
        scores, targets = learn.get_preds(data)
        inputs = torch.cat([xb.detach().float().cpu() for xb, _ in data])
        with torch.no_grad():
            losses = torch.stack(
                [learn.loss_func(scores[i : i + 1], targets[i : i + 1]) for i in range(len(scores))]
            )
        probs = probabilities(scores)
        actual = binary_labels(targets) if scores.shape[1] == 1 else targets.view(-1)
        classes = list(getattr(learn.dls, "vocab", None) or default_classes(scores.shape[1]))
        return cls(inputs, probs, probs.argmax(1), actual.long(), losses.float(), classes)

    def confusion_matrix(self) -> Tensor:
        """``(k, k)`` counts: rows the actual class, columns the predicted one."""
        return confusion_matrix(self.pred, self.actual, len(self.classes))

    def most_confused(self, min_val: int = 1) -> list[tuple[str, str, int]]:
        """``(actual, predicted, count)`` of the mistakes, most frequent first."""
        matrix = self.confusion_matrix()
        pairs = [
            (self.classes[a], self.classes[p], int(matrix[a, p]))
            for a in range(len(self.classes))
            for p in range(len(self.classes))
            if a != p and matrix[a, p] >= min_val
        ]
        return sorted(pairs, key=lambda pair: -pair[2])

    def top_losses(self, k: int = 9) -> tuple[Tensor, Tensor]:
        """The ``k`` largest losses and the items' indices."""
        return self.losses.topk(min(k, len(self.losses)))

    def plot_confusion_matrix(self) -> Axes:
        """The confusion matrix as a picture with its counts."""
        import matplotlib.pyplot as plt

        matrix = self.confusion_matrix()
        _, ax = plt.subplots(figsize=(1 + 0.6 * len(self.classes),) * 2)
        ax.imshow(matrix.numpy(), cmap="Blues")
        for (a, p), count in zip(
            torch.cartesian_prod(*(torch.arange(len(self.classes)),) * 2).tolist(),
            matrix.flatten().tolist(),
            strict=True,
        ):
            dark = count > matrix.max().item() / 2  # white on dark blue, black on light
            ax.text(p, a, str(count), ha="center", va="center", color="white" if dark else "black")
        ticks = range(len(self.classes))
        ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="actual")
        ax.set_xticklabels(self.classes)
        ax.set_yticklabels(self.classes)
        ax.set_title("confusion matrix")
        return ax

    def plot_top_losses(self, k: int = 9, ncols: int = 3) -> Any:
        """The ``k`` worst mistakes: ``predicted/actual/loss/probability`` over each image."""
        losses, idx = self.top_losses(k)
        titles = [
            f"{self.classes[int(self.pred[i])]}/{self.classes[int(self.actual[i])]}"
            f"/{float(loss):.2f}/{float(self.probs[i, self.pred[i]]):.2f}"
            for loss, i in zip(losses, idx.tolist(), strict=True)
        ]
        fig = show_images(self.inputs[idx], titles, ncols=ncols)
        fig.suptitle("predicted/actual/loss/probability")
        return fig


def show_results(learn: Learner, n: int = 9, ncols: int = 3) -> Any:
    """The first ``n`` validation images with ``actual/predicted`` over each (fastai's)."""
    interp = Interpretation.from_learner(learn, _first_batches(learn.dls.valid, n))
    titles = [
        f"{interp.classes[int(a)]}/{interp.classes[int(p)]}"
        for a, p in zip(interp.actual[:n], interp.pred[:n], strict=True)
    ]
    fig = show_images(interp.inputs[:n], titles, ncols=ncols)
    fig.suptitle("actual/predicted")
    return fig


def show_batch(dl: Iterable[Any], n: int = 9, ncols: int = 3, vocab: Any = None) -> Any:
    """The first ``n`` items of ``dl``'s first batch, each titled with its target."""
    xb, yb = next(iter(dl))
    targets = yb.view(-1)[:n]
    if not vocab:
        titles = [str(int(t)) for t in targets]
    else:
        binary = yb.ndim == 2 and yb.shape[1] == 1
        titles = [str(vocab[c]) for c in (binary_labels(targets) if binary else targets).tolist()]
    return show_images(xb[:n].detach().cpu(), titles, ncols=ncols)


def _first_batches(dl: Iterable[Any], n: int) -> list[tuple[Tensor, Tensor]]:
    """Batches of ``dl`` until ``n`` items are covered."""
    batches, count = [], 0
    for xb, yb in dl:
        batches.append((xb, yb))
        count += len(yb)
        if count >= n:
            break
    return batches
