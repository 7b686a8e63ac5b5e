"""``TrainConfig``: every training option by name, validated, with the seed's defaults.

Torch-free (it checks names against ``mnist_sgd.config.registry``), so ``mnist-sgd train --help``
and ``mnist-sgd recipes`` show the defaults without starting PyTorch.
``mnist_sgd.config.build.build_learner`` turns a config into a ``Learner``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mnist_sgd.config.registry import (
    BINARY_LOSS_NAMES,
    LOSS_NAMES,
    MODEL_NAMES,
    OPTIMISER_NAMES,
    SCHEDULE_NAMES,
    check_name,
)

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
    random shifts, turns and zooms to the training images (``mnist_sgd.callbacks.augment``); ``bf16``
    runs the training forward pass under bf16 autocast where that is faster (one CPU
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
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**64):
            raise ValueError(f"seed must be a whole number from 0 to 2**64-1, got {self.seed}")
        if self.bs < 1:
            raise ValueError(f"bs (batch size) must be >= 1, got {self.bs}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        check_name("optimiser", self.opt, OPTIMISER_NAMES)
        check_name("schedule", self.schedule, SCHEDULE_NAMES)
        check_name("loss", self.loss, LOSS_NAMES)
        check_name("model", self.model, MODEL_NAMES)
        if not 0 <= self.mom < 1:
            raise ValueError(f"mom must be in [0, 1), got {self.mom}")
        if not 0 < self.sqr_mom < 1:
            raise ValueError(f"sqr_mom (Adam's second beta) must be in (0, 1), got {self.sqr_mom}")
        if not 0 <= self.wd < math.inf:
            raise ValueError(f"wd (weight decay) must be a finite number >= 0, got {self.wd}")
        if self.opt == "basic" and (self.mom or self.wd):
            raise ValueError(
                "opt 'basic' (the book's BasicOptim) has no momentum or weight decay; "
                "drop --mom/--wd or use --opt sgd"
            )

    @property
    def binary(self) -> bool:
        """True for the seed's one-output models (``mnist_loss``, ``bce``)."""
        return self.loss in BINARY_LOSS_NAMES

    def n_out(self, data: MnistData) -> int:
        """The model's outputs on ``data``: 1 for the binary losses, else one per class."""
        return 1 if self.binary else len(data.classes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
