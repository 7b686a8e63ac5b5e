"""``learn.predict(image_or_path)``: one image to a label, as ``mnist-sgd predict`` sees it.

A file, bytes or an opened image goes through the CLI's preprocessing
(:func:`mnist_sgd.predict.preprocess.prepare_image`: grayscale, light ink on dark,
cropped and centred as MNIST was made); a ``(28, 28)`` tensor is used as it is
(uint8 in 0..255, or float in [0, 1]). Pixels become model input as in
training (:meth:`mnist_sgd.core.data.ImageDataset.transform`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from mnist_sgd.core.data import ImageDataset, binary_target
from mnist_sgd.core.metrics import probabilities

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner
    from mnist_sgd.images import ImageSource


def takes_flat_input(model: nn.Module) -> bool:
    """True if ``model``'s first layer takes ``(n, 784)`` rows, False for ``(n, 1, 28, 28)``."""
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            return not isinstance(module, nn.Conv2d)
    return True


def as_image(item: ImageSource | Tensor) -> Tensor:
    """``(28, 28) uint8``: a tensor as it is, anything else through the CLI's preprocessing."""
    if isinstance(item, Tensor):
        image = item.detach().cpu().reshape(28, 28)
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255).round()
        return image.to(torch.uint8)
    from mnist_sgd.predict.preprocess import prepare_image

    return prepare_image(item)


def class_names(learn: Learner, n_out: int) -> list[str]:
    """``learn.dls.vocab`` if set; else each class's target (binary: ``binary_target``'s),
    in class order as :func:`mnist_sgd.core.metrics.probabilities` gives them."""
    vocab: Sequence[str] | None = getattr(learn.dls, "vocab", None)
    if vocab:
        return list(vocab)
    classes = torch.arange(max(n_out, 2))
    return [str(int(t)) for t in (binary_target(classes) if n_out == 1 else classes).view(-1)]


@torch.no_grad()
def predict(learn: Learner, item: ImageSource | Tensor) -> tuple[str, int, Tensor]:
    """``(label, class index, (k,) probabilities)`` for one image, as fastai's ``predict``."""
    image = as_image(item).unsqueeze(0)
    x, _ = ImageDataset(image, torch.zeros(1), flatten=takes_flat_input(learn.model)).transform(
        (image, torch.zeros(1))
    )
    device = next(iter(learn.model.parameters()), torch.empty(0)).device
    learn.model.eval()
    scores = learn.model(x.to(device)).float().cpu()
    probs = probabilities(scores)[0]
    index = int(probs.argmax())
    return class_names(learn, scores.shape[1])[index], index, probs
