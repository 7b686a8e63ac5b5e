"""One trained model, asked about images: the ``Predictor`` behind every way of asking.

``load_run`` (a run folder), ``load_learner`` and ``learn.predict`` (a notebook's model),
``mnist-sgd predict``/``evaluate``, the draw page and the studio all ask through it:
:meth:`Predictor.probabilities` for ``(n, 28, 28)`` uint8 images, :meth:`Predictor.predict`
for one image as a person gives it (a file, bytes, an opened image, or a ``(28, 28)``
tensor), and :meth:`Predictor.evaluate` on labelled images. Pixels become model input as in
training (:func:`mnist_sgd.core.data.to_input`); the model's first layer says whether it
takes rows or pictures (:func:`mnist_sgd.core.model.takes_flat_input`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mnist_sgd.config.registry import get_loss
from mnist_sgd.core.data import binary_target, to_input
from mnist_sgd.core.metrics import evaluate_model, probabilities
from mnist_sgd.core.model import takes_flat_input
from mnist_sgd.i18n import Said
from mnist_sgd.predict.image_files import ImageSource

DIGIT_CLASSES = 10
"""The classes a digit model knows (0 to 9); a model that knows fewer gets a note."""


def classes_note(classes: list[str]) -> str | None:
    """The note for a model that knows fewer classes than a digit model; None for ten or more.

    Such a model calls every image one of its classes, whatever the image shows (a drawn 5
    is "3, 100% sure" to the 3-vs-7 model): ``mnist-sgd predict``, the draw page and the
    studio's pad all say so in these words (:func:`classes_said`, in English here).
    """
    said = classes_said(classes)
    return None if said is None else said.text("en")


def classes_said(classes: list[str]) -> Said | None:
    """:func:`classes_note` by catalogue key, for a page to show in its reader's language."""
    n = len(classes)
    if n >= DIGIT_CLASSES or n == 0:
        return None
    if n == 1:
        return Said("note.one_class", {"name": classes[0]})
    if n == 2:
        return Said("note.two_classes", {"first": classes[0], "last": classes[1]})
    listed = ", ".join(classes[:-1])
    return Said("note.some_classes", {"count": n, "listed": listed, "last": classes[-1]})


def as_image(item: ImageSource | Tensor) -> Tensor:
    """``(28, 28) uint8``: a tensor as it is, anything else through the CLI's preprocessing."""
    if isinstance(item, Tensor):
        image = item.detach().cpu().reshape(28, 28)
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255).round()
        return image.to(torch.uint8)
    from mnist_sgd.predict.preprocess import prepare_image

    return prepare_image(item)


def default_classes(n_out: int) -> list[str]:
    """Class names when none are known: each class's target (binary: ``binary_target``'s), in
    class order as :func:`mnist_sgd.core.metrics.probabilities` gives them."""
    classes = torch.arange(max(n_out, 2))
    return [str(int(t)) for t in (binary_target(classes) if n_out == 1 else classes).view(-1)]


class Predictor:
    """A trained model and its class names, asked about images (the caller sets eval mode).

    Args:
        model: maps model input to ``(n, k)`` scores (``(n, 1)`` for a binary model).
        classes: the class names in output order; None: :func:`default_classes`.
        flat: whether the model takes ``(n, 784)`` rows; None: read off its first layer.
        loss: the loss's registry name, for :meth:`evaluate`.
    """

    def __init__(
        self,
        model: nn.Module,
        classes: list[str] | None = None,
        *,
        flat: bool | None = None,
        loss: str = "cross_entropy",
    ) -> None:
        self.model = model
        self.flat = takes_flat_input(model) if flat is None else flat
        self.classes, self.loss = classes, loss

    @property
    def device(self) -> torch.device:
        return next(iter(self.model.parameters()), torch.empty(0)).device

    @torch.no_grad()
    def scores(self, images: Tensor) -> Tensor:
        """``(n, 28, 28)`` uint8 images -> ``(n, k)`` float32 scores on the CPU."""
        return self.model(to_input(images, flat=self.flat).to(self.device)).float().cpu()

    def probabilities(self, images: Tensor) -> Tensor:
        """``(n, 28, 28)`` uint8 images -> ``(n, k)`` class probabilities (k = len(classes))."""
        return probabilities(self.scores(images))

    def class_names(self, n_out: int) -> list[str]:
        """The class names in the order of :meth:`probabilities`' columns."""
        return list(self.classes) if self.classes else default_classes(n_out)

    def predict(self, item: ImageSource | Tensor) -> tuple[str, int, Tensor]:
        """``(label, class index, (k,) probabilities)`` for one image, as fastai's ``predict``."""
        scores = self.scores(as_image(item).unsqueeze(0))
        probs = probabilities(scores)[0]
        index = int(probs.argmax())
        return self.class_names(scores.shape[1])[index], index, probs

    def evaluate(self, images: Tensor, labels: Tensor) -> dict[str, Any]:
        """Loss, accuracy, per-class accuracy and confusion matrix on labelled images.

        ``images`` ``(n, 28, 28)`` uint8, ``labels`` ``(n,)`` int64; see
        :func:`mnist_sgd.core.metrics.evaluate_model` for what comes back.
        """
        binary = self.scores(images[:1]).shape[1] == 1
        return evaluate_model(
            self.model, images, labels, binary=binary, flat=self.flat, loss=get_loss(self.loss)
        )
