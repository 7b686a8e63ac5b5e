"""Bigger nets by name: past fastbook chapter 4's ``simple_net``, toward the state of the art.

``simple_net`` showed that one nonlinearity between two linear layers lets a
model learn much more than a line. The same idea, repeated, gives:

- ``mlp``: more (and wider) linear layers with ReLUs, on ``(n, 784)`` rows;
- ``cnn``: a small convolutional net with batch norm, on ``(n, 1, 28, 28)``
  pictures, sized to train fast on a laptop CPU;
- ``cnn_fast``: ``cnn`` made cheaper where the pictures are large (the speedrun's net
  for two epochs; one epoch of ``cnn`` with widths 16/32/128 now does it in less);
- ``cnn_best``: a deeper convolutional net for the best accuracy on MNIST;
- ``cnn_vgg``: VGG-style pairs of 3x3 convs at full size, then pooling, for
  Fashion-MNIST, where fine detail (a collar, a strap) tells the classes apart.

They are registered by name, with the chapter's models, in
``mnist_sgd.config.registry.MODELS`` (``get_model("cnn", n_out=10)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def conv_bn(n_in: int, n_out: int, *, stride: int = 1, ks: int = 3) -> nn.Sequential:
    """Conv (no bias: batch norm has one), batch norm, ReLU.

    ``(n, n_in, h, w)`` -> ``(n, n_out, ceil(h/stride), ceil(w/stride))``
    (``ks`` odd, padding ``ks//2``).
    """
    return nn.Sequential(
        nn.Conv2d(n_in, n_out, ks, stride=stride, padding=ks // 2, bias=False),
        nn.BatchNorm2d(n_out),
        nn.ReLU(inplace=True),
    )


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` laid out channels-last, as CNNs train fastest on a CPU, flattens included.

    oneDNN's convolutions run about 20% faster on channels-last pictures. A ``Flatten``
    hands its gradient back in the default layout, though, and the ReLU before it then
    runs its backward on two layouts at once: 0.59 ms of a 7 ms speedrun step on two
    threads, where a gradient made channels-last first costs 0.06 (issue 30,
    benchmarks/RESULTS.md). So each ``Flatten`` gets a pre-hook that has its input's
    gradient made channels-last; the weights, the values and the saved model are unchanged.
    Calling it again on the same model adds no second hook.
    """
    for module in model.modules():
        if isinstance(module, nn.Flatten) and (
            _gradient_channels_last not in module._forward_pre_hooks.values()
        ):
            module.register_forward_pre_hook(_gradient_channels_last)
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _gradient_channels_last(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
    """``Flatten``'s pre-hook (:func:`channels_last`): its input's gradient, channels-last."""
    (x,) = args
    if x.requires_grad and x.dim() == 4:
        x.register_hook(_to_channels_last)


def _to_channels_last(grad: Tensor) -> Tensor:
    return grad.contiguous(memory_format=torch.channels_last)


def mlp(
    n_in: int = 28 * 28,
    hidden: Sequence[int] = (256, 128),
    n_out: int = 10,
    dropout: float = 0.0,
) -> nn.Sequential:
    """``simple_net`` with more layers: Linear, ReLU, ..., Linear.

    ``(n, 784)`` float32 in [0, 1] -> ``(n, n_out)`` scores. With the default
    ``hidden=(256, 128)``: 784-256-128-10, 235,146 parameters.
    """
    if not hidden:
        raise ValueError("hidden must name at least one layer width, got ()")
    layers: list[nn.Module] = []
    for a, b in zip([n_in, *hidden[:-1]], hidden, strict=True):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden[-1], n_out))
    return nn.Sequential(*layers)


def cnn(n_out: int = 10, widths: Sequence[int] = (16, 32, 64)) -> nn.Sequential:
    """A small, fast CNN: three stride-2 ``conv_bn`` blocks and one linear layer.

    Shapes (default widths)::

        (n, 1, 28, 28) -> conv_bn s2 -> (n, 16, 14, 14)
                       -> conv_bn s2 -> (n, 32, 7, 7)
                       -> conv_bn s2 -> (n, 64, 4, 4)
                       -> flatten    -> (n, 1024) -> Linear -> (n, n_out)

    Stride 2 instead of pooling halves the work of every later layer.
    """
    if len(widths) != 3:
        raise ValueError(f"widths must give 3 channel counts, got {tuple(widths)}")
    a, b, c = widths
    return nn.Sequential(
        conv_bn(1, a, stride=2, ks=5),
        conv_bn(a, b, stride=2),
        conv_bn(b, c, stride=2),
        nn.Flatten(),
        nn.Linear(c * 4 * 4, n_out),
    )


def cnn_fast(n_out: int = 10, widths: Sequence[int] = (8, 32, 64)) -> nn.Sequential:
    """``cnn`` made cheap: a thin first layer without batch norm, then two ``conv_bn``.

    Shapes (default widths)::

        (n, 1, 28, 28) -> conv 5x5 s2, ReLU -> (n, 8, 14, 14)
                       -> conv_bn s2        -> (n, 32, 7, 7)
                       -> conv_bn s2        -> (n, 64, 4, 4)
                       -> flatten           -> (n, 1024) -> Linear -> (n, n_out)

    The first layer works on the largest pictures, so its width and its batch norm cost
    the most time per image while adding the least accuracy (benchmarks/RESULTS.md,
    "Speedrun"): 8 channels and a bias instead of 16 and batch norm.
    """
    if len(widths) != 3:
        raise ValueError(f"widths must give 3 channel counts, got {tuple(widths)}")
    a, b, c = widths
    return nn.Sequential(
        nn.Conv2d(1, a, 5, stride=2, padding=2),
        nn.ReLU(inplace=True),
        conv_bn(a, b, stride=2),
        conv_bn(b, c, stride=2),
        nn.Flatten(),
        nn.Linear(c * 4 * 4, n_out),
    )


def cnn_best(
    n_out: int = 10, widths: Sequence[int] = (32, 64, 128), dropout: float = 0.25
) -> nn.Sequential:
    """A deeper, wider CNN for the best accuracy: five ``conv_bn`` blocks, then dropout.

    Shapes (default widths)::

        (n, 1, 28, 28) -> conv_bn 5x5 s2        -> (n, 32, 14, 14)
                       -> conv_bn               -> (n, 32, 14, 14)
                       -> conv_bn s2, conv_bn   -> (n, 64, 7, 7)
                       -> conv_bn s2            -> (n, 128, 4, 4)
                       -> flatten, dropout      -> (n, 2048) -> Linear -> (n, n_out)

    About 5x the work of ``cnn`` per image; 160,170 parameters for 10 classes.
    """
    if len(widths) != 3:
        raise ValueError(f"widths must give 3 channel counts, got {tuple(widths)}")
    a, b, c = widths
    return nn.Sequential(
        conv_bn(1, a, stride=2, ks=5),
        conv_bn(a, a),
        conv_bn(a, b, stride=2),
        conv_bn(b, b),
        conv_bn(b, c, stride=2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c * 4 * 4, n_out),
    )


def cnn_vgg(
    n_out: int = 10, widths: Sequence[int] = (32, 64, 128), dropout: float = 0.25
) -> nn.Sequential:
    """VGG-style: three pairs of 3x3 ``conv_bn`` blocks, max pooling between them.

    Shapes (default widths)::

        (n, 1, 28, 28) -> conv_bn, conv_bn, max pool -> (n, 32, 14, 14)
                       -> conv_bn, conv_bn, max pool -> (n, 64, 7, 7)
                       -> conv_bn, conv_bn           -> (n, 128, 7, 7)
                       -> global max pool, flatten   -> (n, 128)
                       -> dropout, Linear            -> (n, n_out)

    The first convolutions see every pixel at full size (``cnn_best`` starts with a
    stride-2 5x5), which costs about twice ``cnn_best``'s time per image and bought
    Fashion-MNIST accuracy (benchmarks/RESULTS.md, "fashion-best"); 288,170 parameters
    for 10 classes.
    """
    if len(widths) != 3:
        raise ValueError(f"widths must give 3 channel counts, got {tuple(widths)}")
    a, b, c = widths
    return nn.Sequential(
        conv_bn(1, a),
        conv_bn(a, a),
        nn.MaxPool2d(2),
        conv_bn(a, b),
        conv_bn(b, b),
        nn.MaxPool2d(2),
        conv_bn(b, c),
        conv_bn(c, c),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c, n_out),
    )
