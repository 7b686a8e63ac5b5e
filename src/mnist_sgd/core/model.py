"""Models: fastbook chapter 4, "The MNIST loss function" and "Adding a nonlinearity".

From the seed's ``xb@weights + bias`` (with parameters from ``init_params``)
to ``simple_net`` (Linear 784->30, ReLU, Linear 30->1), the chapter's pixel
similarity baseline. The bigger nets are in ``mnist_sgd.core.nets``; every model by
name is in ``mnist_sgd.config.registry`` (``get_model``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def init_params(size: int | tuple[int, ...], std: float = 1.0) -> Tensor:
    """Step 1 of the seven: random parameters that track their gradient.

    ``init_params((28*28, 1))`` gives ``(784, 1)`` float32 weights drawn from
    ``N(0, std**2)`` with ``requires_grad`` set.
    """
    if torch.empty(0).is_meta:  # runs.load's size check lays models out on the meta device:
        # no values to draw (randn and arithmetic there import torch's meta kernels, 0.4-1.5 s)
        return torch.empty(size).requires_grad_()
    return (torch.randn(size) * std).requires_grad_()


def linear1(xb: Tensor, weights: Tensor, bias: Tensor) -> Tensor:
    """The seed's model: ``xb@weights + bias``.

    Args:
        xb: ``(n, 784)`` float32 in [0, 1].
        weights: ``(784, 1)``; bias: ``(1,)``.
    Returns:
        ``(n, 1)`` scores: above 0 means "3".
    """
    return xb @ weights + bias


class Linear1(nn.Module):
    """``linear1`` as a module holding its own ``weights`` and ``bias`` (from ``init_params``).

    ``(n, n_in)`` -> ``(n, n_out)``. ``n_out=1`` is the seed's 3-vs-7 model;
    ``n_out=10`` the linear model for all ten digits.
    """

    def __init__(self, n_in: int = 28 * 28, n_out: int = 1, std: float = 1.0) -> None:
        super().__init__()
        self.weights = nn.Parameter(init_params((n_in, n_out), std))
        self.bias = nn.Parameter(init_params(n_out, std))

    def forward(self, xb: Tensor) -> Tensor:
        return linear1(xb, self.weights, self.bias)


def simple_net(n_in: int = 28 * 28, n_hidden: int = 30, n_out: int = 1) -> nn.Sequential:
    """The chapter's two-layer net: Linear(784, 30), ReLU, Linear(30, 1).

    ``(n, 784)`` -> ``(n, n_out)``.
    """
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def mnist_distance(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference over the last two dims: ``(.., 28, 28)`` -> ``(..)``."""
    return (a - b).abs().mean((-1, -2))


class PixelSimilarity(nn.Module):
    """The chapter's baseline: is an image closer to the mean 3 or to the mean 7?

    No training: :meth:`fit` averages each class's images. ``forward`` takes
    ``(n, 784)`` floats in [0, 1] and returns ``(n, 1)`` scores
    ``distance_to_mean7 - distance_to_mean3``, above 0 for a "3", so
    ``batch_accuracy`` scores it like the linear model (book: 0.9511).
    """

    mean3: Tensor
    mean7: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean3", torch.zeros(28, 28))
        self.register_buffer("mean7", torch.zeros(28, 28))

    def fit(self, x: Tensor, y: Tensor) -> PixelSimilarity:
        """Average the images: ``x`` ``(n, 784)`` floats, ``y`` ``(n, 1)`` with 1 for "3"."""
        images = x.view(-1, 28, 28)
        is3 = y.view(-1) == 1
        self.mean3.copy_(images[is3].mean(0))
        self.mean7.copy_(images[~is3].mean(0))
        return self

    def forward(self, xb: Tensor) -> Tensor:
        images = xb.view(-1, 28, 28)
        return (mnist_distance(images, self.mean7) - mnist_distance(images, self.mean3)).unsqueeze(
            1
        )


def takes_flat_input(model: nn.Module) -> bool:
    """True if ``model``'s first layer takes ``(n, 784)`` rows, False for ``(n, 1, 28, 28)``."""
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            return not isinstance(module, nn.Conv2d)
    return True
