"""Light data augmentation: small random shifts, rotations and zooms, a whole batch at once.

Beyond fastbook chapter 4 (chapter 7 of the book introduces augmentation).
A digit moved by a pixel or turned by a few degrees is still the same digit,
so showing the model such variants each epoch is like having more data.

Everything is batched on tensors (one ``affine_grid`` + ``grid_sample`` per
batch, no per-image Python) and the random draws come from the global torch
RNG on the CPU, so a checkpoint that saves ``torch.get_rng_state()`` resumes
with exactly the same augmented batches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mnist_sgd.data import ImageDataset, to_input


def uniform(n: int, limit: float) -> Tensor:
    """``(n,)`` float32 uniform in ``[-limit, limit]`` from the global CPU RNG."""
    return (torch.rand(n) * 2 - 1) * limit


def random_affine(
    x: Tensor, *, max_rotate: float = 10.0, max_shift: float = 2.0, max_zoom: float = 0.1
) -> Tensor:
    """Each picture turned, shifted and zoomed by its own small random amount.

    Args:
        x: ``(n, c, h, w)`` float pictures, 0 = background.
        max_rotate: largest rotation, in degrees either way.
        max_shift: largest shift, in pixels along each axis.
        max_zoom: largest relative change of size (0.1: 90% to 110%).
    Returns:
        ``(n, c, h, w)`` like ``x``; pixels moved in from outside are 0.
    """
    n, _, h, w = x.shape
    angle = uniform(n, math.radians(max_rotate))
    scale = 1 + uniform(n, max_zoom)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/w wide
    tx, ty = uniform(n, max_shift * 2 / w), uniform(n, max_shift * 2 / h)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


MIRROR_SAFE = frozenset({"fashion_mnist"})
"""Datasets whose classes survive a left-right mirror (clothes do; a mirrored 3 is no 3)."""


def mirror_safe(dataset: str) -> bool:
    """True if random left-right flips keep ``dataset``'s labels right."""
    return dataset in MIRROR_SAFE


def random_flip(x: Tensor, p: float = 0.5) -> Tensor:
    """Mirror each picture left-right with probability ``p``: ``(n, c, h, w)`` -> same."""
    flip = (torch.rand(len(x)) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


class AugmentedImageDataset(ImageDataset):
    """An ``ImageDataset`` whose batches are randomly moved (``random_affine``) at each read.

    For the training set only: every epoch sees new variants of the same
    ``(n, 28, 28)`` uint8 images. Batches come out as :class:`ImageDataset`'s,
    ``(bs, 784)`` or ``(bs, 1, 28, 28)`` float32 in [0, 1]. ``flip`` also mirrors
    half of them left-right (only for classes that allow it: see ``mirror_safe``).
    """

    def __init__(
        self,
        images: Tensor,
        targets: Tensor,
        *,
        flatten: bool = True,
        max_rotate: float = 10.0,
        max_shift: float = 2.0,
        max_zoom: float = 0.1,
        flip: bool = False,
    ) -> None:
        super().__init__(images, targets, flatten=flatten)
        self.max_rotate, self.max_shift, self.max_zoom = max_rotate, max_shift, max_zoom
        self.flip = flip

    def transform(self, items: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        images, targets = items
        single = images.ndim == 2  # one item (28, 28), not a batch
        x = to_input(images, flat=False).reshape(-1, 1, *images.shape[-2:])
        x = random_affine(
            x, max_rotate=self.max_rotate, max_shift=self.max_shift, max_zoom=self.max_zoom
        )
        x = x.clamp_(0, 1)
        if self.flip:
            x = random_flip(x)
        if single:
            x = x[0]
        return (x.flatten(-3) if self.flatten else x), targets
