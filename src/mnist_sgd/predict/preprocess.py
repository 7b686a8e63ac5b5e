"""``prepare_image``: any image file, bytes or picture to the 28x28 digit a model sees.

The MNIST recipe itself (grayscale, ink light on dark, cropped, fitted in 20x20,
centred by mass) has one home, :mod:`mnist_sgd.datasets.mnist_style`, which a
user's own class-folder tree goes through too; this module opens the image and
names it in errors.
"""

from __future__ import annotations

import torch
from PIL import Image

from mnist_sgd.datasets.mnist_style import fit_to_mnist
from mnist_sgd.errors import ImageError
from mnist_sgd.predict.image_files import ImageSource, describe, open_image

__all__ = ["ImageSource", "open_image", "prepare_image"]


def prepare_image(source: ImageSource, *, raw: bool = False) -> torch.Tensor:
    """The 28x28 image a model sees for ``source`` (a path, bytes, or an opened image).

    ``raw=True`` only converts to grayscale and resizes to 28x28 (no inversion,
    no cropping); otherwise :func:`~mnist_sgd.datasets.mnist_style.to_mnist` runs
    unless the image is already MNIST-like, in which case it is used as it is.

    Returns:
        ``(28, 28) uint8`` tensor.
    """
    img = source if isinstance(source, Image.Image) else open_image(source)
    try:
        return fit_to_mnist(img, raw=raw)
    except ImageError as exc:
        raise ImageError(f"{describe(source)}: {exc}") from None
