"""``mnist_sgd.config.registry`` (torch-free) agrees with the registries that hold the real objects."""

from __future__ import annotations

import pytest

from mnist_sgd.config import registry as names
from mnist_sgd.config.build import OPTIMIZERS
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.core.loss import BINARY_LOSSES, LOSSES
from mnist_sgd.core.model import model_names
from mnist_sgd.core.schedule import SCHEDULES


def test_the_names_are_the_registries_names_in_order() -> None:
    assert tuple(model_names()) == names.MODEL_NAMES
    assert tuple(LOSSES) == names.LOSS_NAMES
    assert names.BINARY_LOSS_NAMES == BINARY_LOSSES
    assert tuple(OPTIMIZERS) == names.OPTIMISER_NAMES
    assert tuple(SCHEDULES) == names.SCHEDULE_NAMES


@pytest.mark.parametrize("name", names.MODEL_NAMES)
def test_every_model_name_builds(name: str) -> None:
    from mnist_sgd.core.model import get_model

    assert get_model(name, n_out=2) is not None


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("model", "nope", "unknown model 'nope'; choose one of: linear, simple_net"),
        ("loss", "nope", "unknown loss 'nope'"),
        ("opt", "nope", "unknown optimiser 'nope'"),
        ("schedule", "nope", "warmup_cosine"),
    ],
)
def test_config_rejects_unknown_names(field: str, value: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("extra", [{"mom": 0.9}, {"wd": 1e-4}])
def test_basic_optimiser_refuses_momentum_and_weight_decay(extra: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="no momentum or weight decay"):
        TrainConfig(opt="basic", **extra)  # type: ignore[arg-type]
    assert TrainConfig(opt="basic").opt == "basic"
