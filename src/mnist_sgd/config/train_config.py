"""``TrainConfig``: every training option by name, validated, with the seed's defaults.

The one place a configuration is checked: each field's type and range, the names against
``mnist_sgd.config.registry`` and ``mnist_sgd.datasets.registry``, and the options that
cannot go together. A bad one is a ``ConfigError`` naming its field, which the CLI turns
into its flag and the studio into a 422. Torch-free, so ``mnist-sgd train --help`` and
``mnist-sgd recipes`` show the defaults without starting PyTorch.
``mnist_sgd.config.build.build_learner`` turns a config into a ``Learner``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, NoReturn

from mnist_sgd.config import registry
from mnist_sgd.datasets.registry import get_info
from mnist_sgd.errors import ConfigError

if TYPE_CHECKING:
    from mnist_sgd.datasets import MnistData


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, by name, with the seed's defaults (the book's linear model).

    ``mom`` is SGD's momentum, and Adam's first beta when above 0 (Adam's default is 0.9);
    ``sqr_mom`` is Adam's second beta (fastai's name; torch's default 0.999, fastai's 0.99);
    ``wd`` is weight decay for both; the book's ``basic`` optimiser has neither, so setting
    them with it is an error. ``schedule`` names how lr moves during the fit (``constant``,
    ``one_cycle``, ``warmup_cosine``: see ``mnist_sgd.core.schedule``); ``augment`` adds small
    random shifts, turns and zooms to the training images (``mnist_sgd.callbacks.augment``);
    ``bf16`` runs the training forward pass under bf16 autocast where that is faster (one CPU
    thread: ``mnist_sgd.callbacks.precision``), float32 elsewhere.
    """

    dataset: str = "mnist_sample"
    model: str = "linear"
    loss: str = "mnist_loss"
    opt: str = "sgd"
    lr: float = 1.0
    bs: int = 256
    epochs: int = 20
    seed: int = 42
    mom: float = 0.0
    sqr_mom: float = 0.999
    wd: float = 0.0
    schedule: str = "constant"
    augment: bool = False
    bf16: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self)

    @property
    def binary(self) -> bool:
        """True for the seed's one-output models (``mnist_loss``, ``bce``)."""
        return registry.LOSSES[self.loss].binary

    def n_out(self, data: MnistData) -> int:
        """The model's outputs on ``data``: 1 for the binary losses, else one per class."""
        return 1 if self.binary else len(data.classes)

    def check_classes(self, n_classes: int, dataset: str) -> None:
        """A binary loss only on two classes (the dataset's, or the data's at hand)."""
        if self.binary and n_classes != 2:
            raise ConfigError(
                "loss",
                f"loss {self.loss!r} is for two classes, but {dataset} has {n_classes}; "
                "choose cross_entropy",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TEXTS = ("dataset", "model", "loss", "opt", "schedule")
_WHOLE = ("bs", "epochs", "seed")
_NUMBERS = ("lr", "mom", "sqr_mom", "wd")
_SWITCHES = ("augment", "bf16")


def check(config: TrainConfig) -> None:
    """Every field of ``config``, then the options that must agree; a ``ConfigError`` names one.

    A whole number given as a float (``bs=2.5``) or a bool is refused; an int given for a
    float field (JSON's ``1``) becomes a float.
    """
    for name in (f.name for f in fields(config)):
        value, number = getattr(config, name), not isinstance(getattr(config, name), bool)
        if name in _TEXTS and not isinstance(value, str):
            raise ConfigError(name, f"{name} must be a string, got {value!r}")
        if name in _WHOLE and not (number and isinstance(value, int)):
            if name == "seed":
                _seed_error(value)
            raise ConfigError(name, f"{name} must be a whole number, got {value!r}")
        if name in _NUMBERS:
            if not (number and isinstance(value, int | float)):
                raise ConfigError(name, f"{name} must be a number, got {value!r}")
            try:
                object.__setattr__(config, name, float(value))
            except OverflowError:
                raise ConfigError(name, f"{name} must be a finite number, got {value}") from None
        if name in _SWITCHES and not isinstance(value, bool):
            raise ConfigError(name, f"{name} must be true or false, got {value!r}")
    if not isinstance(config.model_kwargs, dict):
        message = f"model_kwargs must be a dict of the model's options, got {config.model_kwargs!r}"
        raise ConfigError("model_kwargs", message)
    _check_values(config)


def _check_values(config: TrainConfig) -> None:
    """The ranges and names, once every field has its type."""
    try:
        info = get_info(config.dataset)
    except ValueError as error:
        raise ConfigError("dataset", str(error)) from None
    for name in registry.KINDS:
        registry.check(name, getattr(config, name))
    if not 0 < config.lr < math.inf:
        raise ConfigError("lr", f"lr must be a finite number > 0, got {config.lr}")
    if config.bs < 1:
        raise ConfigError("bs", f"bs (batch size) must be >= 1, got {config.bs}")
    if config.epochs < 1:
        raise ConfigError("epochs", f"epochs must be >= 1, got {config.epochs}")
    if not 0 <= config.seed < 2**64:
        _seed_error(config.seed)
    if not 0 <= config.mom < 1:
        raise ConfigError("mom", f"mom must be in [0, 1), got {config.mom}")
    if not 0 < config.sqr_mom < 1:
        message = f"sqr_mom (Adam's second beta) must be in (0, 1), got {config.sqr_mom}"
        raise ConfigError("sqr_mom", message)
    if not 0 <= config.wd < math.inf:
        message = f"wd (weight decay) must be a finite number >= 0, got {config.wd}"
        raise ConfigError("wd", message)
    if config.opt == "basic" and (config.mom or config.wd):
        raise ConfigError(
            "opt",
            "opt 'basic' (the book's BasicOptim) has no momentum or weight decay; "
            "drop --mom/--wd or use --opt sgd",
        )
    config.check_classes(len(info.classes), config.dataset)


def _seed_error(value: object) -> NoReturn:
    raise ConfigError("seed", f"seed must be a whole number from 0 to 2**64-1, got {value}")
