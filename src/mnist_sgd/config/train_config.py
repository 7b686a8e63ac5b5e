"""``TrainConfig``: every training option by name, validated, with the seed's defaults.

The one check of a configuration (:func:`check`): a bad option is a ``ConfigError`` naming
its field, which the CLI turns into its flag and the studio into a 422. Torch-free, so
``--help`` and ``mnist-sgd recipes`` never start PyTorch. ``config.build`` makes a ``Learner``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from mnist_sgd.config import registry
from mnist_sgd.datasets.registry import get_info, is_dataset_path
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
    ``bf16`` asks for bf16 autocast in the training forward pass; every training uses it
    only where a probe finds it faster here (``mnist_sgd.callbacks.speed``), else float32.
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


# a field's annotation -> (the types it takes, how its message says so)
_TYPES: dict[str, tuple[Any, str]] = {
    "str": (str, "a string"),
    "int": (int, "a whole number"),
    "float": (int | float, "a number"),
    "bool": (bool, "true or false"),
    "dict[str, Any]": (dict, "a dict of the model's options"),
}


def check(config: TrainConfig) -> None:
    """Types (JSON's ``1`` becomes ``1.0``), names, ranges, then the options that must agree."""
    for f in fields(config):
        value: Any = getattr(config, f.name)
        types, words = _TYPES[str(f.type)]
        if not isinstance(value, types) or (isinstance(value, bool) and f.type != "bool"):
            raise ConfigError(f.name, f"{f.name} must be {words}, got {value!r}")
        if f.type == "float":
            try:
                object.__setattr__(config, f.name, float(value))
            except OverflowError:
                raise ConfigError(
                    f.name, f"{f.name} must be a finite number, got {value}"
                ) from None
    try:
        # a user's set (a path) has its classes checked once loaded, by build.make_dls
        info = None if is_dataset_path(config.dataset) else get_info(config.dataset)
    except ValueError as error:
        raise ConfigError("dataset", str(error)) from None
    for name in registry.KINDS:
        registry.entry(name, getattr(config, name))
    for name, fits, rule in (
        ("lr", 0 < config.lr < math.inf, "lr must be a finite number > 0"),
        ("bs", config.bs >= 1, "bs (batch size) must be >= 1"),
        ("epochs", config.epochs >= 1, "epochs must be >= 1"),
        ("seed", 0 <= config.seed < 2**64, "seed must be a whole number from 0 to 2**64-1"),
        ("mom", 0 <= config.mom < 1, "mom must be in [0, 1)"),
        ("sqr_mom", 0 < config.sqr_mom < 1, "sqr_mom (Adam's second beta) must be in (0, 1)"),
        ("wd", 0 <= config.wd < math.inf, "wd (weight decay) must be a finite number >= 0"),
    ):
        if not fits:
            raise ConfigError(name, f"{rule}, got {getattr(config, name)}")
    if config.opt == "basic" and (config.mom or config.wd):
        raise ConfigError(
            "opt",
            "opt 'basic' (the book's BasicOptim) has no momentum or weight decay; "
            "drop --mom/--wd or use --opt sgd",
        )
    if info is not None:
        config.check_classes(len(info.classes), config.dataset)
