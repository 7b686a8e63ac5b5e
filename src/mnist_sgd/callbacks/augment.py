"""Light data augmentation: small random shifts, rotations and zooms, a whole batch at once.

Beyond fastbook chapter 4 (chapter 7 of the book introduces augmentation).
A digit moved by a pixel or turned by a few degrees is still the same digit,
so showing the model such variants each epoch is like having more data.

Everything is batched on tensors (one ``affine_grid`` + ``grid_sample`` per
batch, no per-image Python) and the random draws come from the global torch
RNG on the CPU, so a checkpoint that saves ``torch.get_rng_state()`` resumes
with exactly the same augmented batches.

What moves are fair depends on the pictures: ``policy_for(dataset)`` gives each
dataset its own (a :class:`Policy`). Digits get small turns, zooms and shifts;
clothes get whole-pixel shifts and left-right mirrors, which measured better on
Fashion-MNIST than turns and zooms (benchmarks/RESULTS.md, "fashion-best").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mnist_sgd.core.data import ImageDataset, to_input


def uniform(n: int, limit: float) -> Tensor:
    """``(n,)`` float32 uniform in ``[-limit, limit]`` from the global CPU RNG."""
    return (torch.rand(n) * 2 - 1) * limit


def shifts(n: int, max_shift: float, whole_pixels: bool) -> Tensor:
    """``(n,)`` float32 shifts in pixels: uniform in ``[-max_shift, max_shift]``, or whole
    pixels drawn evenly from ``-k, ..., k`` (``k = int(max_shift)``) when ``whole_pixels``."""
    if whole_pixels:
        k = int(max_shift)
        return torch.randint(-k, k + 1, (n,)).float()
    return uniform(n, max_shift)


def random_affine(
    x: Tensor,
    *,
    max_rotate: float = 10.0,
    max_shift: float = 2.0,
    max_zoom: float = 0.1,
    whole_pixels: bool = False,
) -> Tensor:
    """Each picture turned, shifted and zoomed by its own small random amount.

    Args:
        x: ``(n, c, h, w)`` float pictures, 0 = background.
        max_rotate: largest rotation, in degrees either way.
        max_shift: largest shift, in pixels along each axis.
        max_zoom: largest relative change of size (0.1: 90% to 110%).
        whole_pixels: shift by whole pixels only; with no turn or zoom, every pixel is
            then moved exactly, not blurred by interpolation.
    Returns:
        ``(n, c, h, w)`` like ``x``; pixels moved in from outside are 0.
    """
    n, _, h, w = x.shape
    angle = uniform(n, math.radians(max_rotate))
    scale = 1 + uniform(n, max_zoom)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/w wide
    tx = shifts(n, max_shift, whole_pixels) * 2 / w
    ty = shifts(n, max_shift, whole_pixels) * 2 / h
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Policy:
    """How the training pictures of one dataset are moved: ``random_affine``'s limits, and
    whether half of them are mirrored left-right (``random_flip``)."""

    max_rotate: float = 10.0
    max_shift: float = 2.0
    max_zoom: float = 0.1
    whole_pixels: bool = False
    flip: bool = False


POLICIES: dict[str, Policy] = {
    # clothes survive a mirror (a mirrored 3 is no 3); whole-pixel shifts and flips, no
    # turns or zooms: 0.9366 against 0.9203 with all four (benchmarks/RESULTS.md)
    "fashion_mnist": Policy(max_rotate=0.0, max_zoom=0.0, whole_pixels=True, flip=True),
}
"""Each dataset's own policy; the rest get ``Policy()``: the small moves digits allow."""


def policy_for(dataset: str) -> Policy:
    """The augmentation :class:`Policy` for ``dataset`` (``"mnist"``, ``"fashion_mnist"``...)."""
    return POLICIES.get(dataset, Policy())


def mirror_safe(dataset: str) -> bool:
    """True if random left-right flips keep ``dataset``'s labels right."""
    return policy_for(dataset).flip


def random_flip(x: Tensor, p: float = 0.5) -> Tensor:
    """Mirror each picture left-right with probability ``p``: ``(n, c, h, w)`` -> same."""
    flip = (torch.rand(len(x)) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


class AugmentedImageDataset(ImageDataset):
    """An ``ImageDataset`` whose batches are randomly moved (``random_affine``) at each read.

    For the training set only: every epoch sees new variants of the same
    ``(n, 28, 28)`` uint8 images. Batches come out as :class:`ImageDataset`'s,
    ``(bs, 784)`` or ``(bs, 1, 28, 28)`` float32 in [0, 1]. ``policy`` says how far
    they move and whether half are mirrored (``policy_for(dataset)`` gives the right one).
    """

    def __init__(
        self, images: Tensor, targets: Tensor, *, flatten: bool = True, policy: Policy = Policy()
    ) -> None:
        super().__init__(images, targets, flatten=flatten)
        self.policy = policy

    def transform(self, items: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        images, targets = items
        single = images.ndim == 2  # one item (28, 28), not a batch
        x = to_input(images, flat=False).reshape(-1, 1, *images.shape[-2:])
        p = self.policy
        x = random_affine(
            x,
            max_rotate=p.max_rotate,
            max_shift=p.max_shift,
            max_zoom=p.max_zoom,
            whole_pixels=p.whole_pixels,
        )
        x = x.clamp_(0, 1)
        if p.flip:
            x = random_flip(x)
        if single:
            x = x[0]
        return (x.flatten(-3) if self.flatten else x), targets
