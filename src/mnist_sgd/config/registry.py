"""The registries, one per kind: every model, loss, optimiser and schedule by name.

Torch-free: an entry says where its object lives (``"module:attribute"``) and the facts
torch-free code needs; :func:`get` imports the object, so ``--help`` never starts PyTorch.
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from mnist_sgd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import Tensor, nn

    from mnist_sgd.core.schedule import Schedule


class Entry(NamedTuple):
    """``where``: ``module:attribute``; ``binary``: a loss for one output (``core.data.POSITIVE``
    against the other class). A model's input shape is read off the model itself
    (:func:`mnist_sgd.core.model.takes_flat_input`)."""

    where: str
    binary: bool = False


MODELS = {
    "linear": Entry("mnist_sgd.core.model:Linear1"),
    "simple_net": Entry("mnist_sgd.core.model:simple_net"),
    "mlp": Entry("mnist_sgd.core.nets:mlp"),
    "cnn": Entry("mnist_sgd.core.nets:cnn"),
    "cnn_fast": Entry("mnist_sgd.core.nets:cnn_fast"),
    "cnn_best": Entry("mnist_sgd.core.nets:cnn_best"),
    "cnn_vgg": Entry("mnist_sgd.core.nets:cnn_vgg"),
}
LOSSES = {
    "mnist_loss": Entry("mnist_sgd.core.loss:mnist_loss", binary=True),
    "bce": Entry("mnist_sgd.core.loss:binary_cross_entropy", binary=True),
    "cross_entropy": Entry("mnist_sgd.core.loss:cross_entropy"),
    "label_smoothing": Entry("mnist_sgd.core.loss:label_smoothing"),
}
OPTIMISERS = {
    "sgd": Entry("mnist_sgd.core.optim:SGD"),
    "basic": Entry("mnist_sgd.core.optim:BasicOptim"),
    "adam": Entry("mnist_sgd.core.optim:Adam"),
}
SCHEDULES = {
    "constant": Entry("mnist_sgd.core.schedule:constant"),
    "one_cycle": Entry("mnist_sgd.core.schedule:one_cycle"),
    "warmup_cosine": Entry("mnist_sgd.core.schedule:linear_warmup_cosine"),
}
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
# TrainConfig field -> (the word its messages use, its registry)
KINDS = {
    "model": ("model", MODELS),
    "loss": ("loss", LOSSES),
    "opt": ("optimiser", OPTIMISERS),
    "schedule": ("schedule", SCHEDULES),
}


def entry(field: str, name: object) -> Entry:
    """``name``'s entry for ``field``; a ``ConfigError`` naming the valid choices if none."""
    kind, registry = KINDS[field]
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(field, f"unknown {kind} {name!r}; choose one of: {', '.join(registry)}")
    return registry[name]


def get(field: str, name: str) -> Any:
    """The object registered as ``name`` for ``field`` (its module imported now)."""
    module, _, attribute = entry(field, name).where.partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_model(name: str, n_out: int = 1, **kwargs: Any) -> nn.Module:
    """Build model ``name`` with ``n_out`` outputs (1 for a binary loss, k for k classes)."""
    return get("model", name)(n_out=n_out, **kwargs)


def get_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss function registered as ``name``."""
    return get("loss", name)


def get_schedule(name: str, **kwargs: float) -> Schedule:
    """The schedule registered as ``name`` (options such as ``pct_start`` bound in)."""
    schedule = get("schedule", name)
    return partial(schedule, **kwargs) if kwargs else schedule
