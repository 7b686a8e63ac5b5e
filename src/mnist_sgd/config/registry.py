"""The registries, one per kind: every model, loss, optimiser and schedule by name.

Torch-free: an entry says where its object lives (``"module:attribute"``) and the facts
that torch-free code needs (does a model take flat ``(n, 784)`` rows; is a loss binary,
one output). The object is imported when it is asked for (``get_model``, ``get_loss``,
``get_optimiser``, ``get_schedule``), so ``--help`` and ``TrainConfig``'s checks never
start PyTorch. ``tests/config/test_registry.py`` checks every entry against its object.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from mnist_sgd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from torch import Tensor, nn

    from mnist_sgd.core.optim import BasicOptim
    from mnist_sgd.core.schedule import Schedule


@dataclass(frozen=True)
class Model:
    """A model builder (``builder(n_out=..., **kwargs)``) and its input layout."""

    where: str
    flat: bool  # (n, 784) rows; False: (n, 1, 28, 28) pictures


@dataclass(frozen=True)
class Loss:
    """A loss function; ``binary``: one output, class ``core.data.POSITIVE`` against the other."""

    where: str
    binary: bool


MODELS: dict[str, Model] = {
    "linear": Model("mnist_sgd.core.model:Linear1", flat=True),
    "simple_net": Model("mnist_sgd.core.model:simple_net", flat=True),
    "mlp": Model("mnist_sgd.core.nets:mlp", flat=True),
    "cnn": Model("mnist_sgd.core.nets:cnn", flat=False),
    "cnn_fast": Model("mnist_sgd.core.nets:cnn_fast", flat=False),
    "cnn_best": Model("mnist_sgd.core.nets:cnn_best", flat=False),
    "cnn_vgg": Model("mnist_sgd.core.nets:cnn_vgg", flat=False),
}
LOSSES: dict[str, Loss] = {
    "mnist_loss": Loss("mnist_sgd.core.loss:mnist_loss", binary=True),
    "bce": Loss("mnist_sgd.core.loss:binary_cross_entropy", binary=True),
    "cross_entropy": Loss("mnist_sgd.core.loss:cross_entropy", binary=False),
    "label_smoothing": Loss("mnist_sgd.core.loss:label_smoothing", binary=False),
}
OPTIMISERS: dict[str, str] = {
    "sgd": "mnist_sgd.core.optim:SGD",
    "basic": "mnist_sgd.core.optim:BasicOptim",
    "adam": "mnist_sgd.core.optim:Adam",
}
SCHEDULES: dict[str, str] = {
    "constant": "mnist_sgd.core.schedule:constant",
    "one_cycle": "mnist_sgd.core.schedule:one_cycle",
    "warmup_cosine": "mnist_sgd.core.schedule:linear_warmup_cosine",
}
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")

# TrainConfig field -> (the word its messages use, its registry)
KINDS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "model": ("model", MODELS),
    "loss": ("loss", LOSSES),
    "opt": ("optimiser", OPTIMISERS),
    "schedule": ("schedule", SCHEDULES),
}


def names(field: str) -> tuple[str, ...]:
    """The names registered for ``TrainConfig`` field ``field`` (``model``, ``loss``, ...)."""
    return tuple(KINDS[field][1])


def check(field: str, name: object) -> None:
    """A ``ConfigError`` naming the valid choices when ``name`` is not registered for ``field``."""
    kind, registry = KINDS[field]
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(field, f"unknown {kind} {name!r}; choose one of: {', '.join(registry)}")


def resolve(field: str, name: str) -> Any:
    """The object registered as ``name`` for ``field``, its module imported now."""
    check(field, name)
    entry = KINDS[field][1][name]
    module, _, attribute = (entry if isinstance(entry, str) else entry.where).partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_model(name: str, n_out: int = 1, **kwargs: Any) -> nn.Module:
    """Build model ``name`` with ``n_out`` outputs (1 for a binary loss, k for k classes)."""
    return resolve("model", name)(n_out=n_out, **kwargs)


def wants_flat_input(name: str) -> bool:
    """True if model ``name`` takes ``(n, 784)`` rows, False for ``(n, 1, 28, 28)`` pictures."""
    check("model", name)
    return MODELS[name].flat


def get_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss function registered as ``name``."""
    return resolve("loss", name)


def get_optimiser(name: str) -> Callable[..., BasicOptim]:
    """The optimiser class registered as ``name`` (``cls(params, lr, **options)``)."""
    return resolve("opt", name)


def get_schedule(name: str, **kwargs: float) -> Schedule:
    """The schedule registered as ``name`` (options such as ``pct_start`` bound in)."""
    schedule = resolve("schedule", name)
    return partial(schedule, **kwargs) if kwargs else schedule
