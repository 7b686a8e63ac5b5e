"""The one registry per kind (``mnist_sgd.config.registry``) and the one check (``TrainConfig``).

Every entry resolves to its object, and the facts written beside it (a model's input
layout, a loss's one output) are the object's; a bad option is a ``ConfigError``
naming its field.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from mnist_sgd.config import registry
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.core.model import takes_flat_input
from mnist_sgd.core.optim import BasicOptim
from mnist_sgd.errors import ConfigError


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_every_model_builds_and_takes_the_input_its_first_layer_says(name: str) -> None:
    model = registry.get_model(name, n_out=2).eval()
    flat = takes_flat_input(model)
    x = torch.rand(3, 784) if flat else torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 2)


@pytest.mark.parametrize("name", list(registry.LOSSES))
def test_every_loss_resolves_and_binary_means_one_output(name: str) -> None:
    loss = registry.get_loss(name)
    if registry.LOSSES[name].binary:
        value = loss(torch.randn(4, 1), torch.tensor([[1], [0], [1], [0]]))
    else:
        value = loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
        with pytest.raises(ValueError):
            loss(torch.randn(4, 1), torch.tensor([[1], [0], [1], [0]]))
    assert math.isfinite(float(value))


def test_every_optimiser_and_schedule_resolves() -> None:
    for name in registry.OPTIMISERS:
        assert issubclass(registry.get("opt", name), BasicOptim)
    for name in registry.SCHEDULES:
        assert registry.get_schedule(name)(1.0, 0.5) > 0
    assert registry.get_schedule("one_cycle", pct_start=0.5)(1.0, 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("model", "nope", "unknown model 'nope'; choose one of: linear, simple_net"),
        ("loss", "nope", "unknown loss 'nope'"),
        ("opt", "nope", "unknown optimiser 'nope'"),
        ("schedule", "nope", "warmup_cosine"),
        ("dataset", "cifar", "unknown dataset 'cifar'; choose one of: mnist_sample"),
    ],
)
def test_config_rejects_unknown_names(field: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field
    if field in registry.KINDS:
        with pytest.raises(ConfigError, match=fragment):
            registry.get(field, value)


@pytest.mark.parametrize(
    "options, field, words",
    [
        ({"lr": 0}, "lr", "lr must be a finite number > 0, got 0"),
        ({"lr": math.nan}, "lr", "lr must be a finite number > 0"),
        ({"lr": "fast"}, "lr", "lr must be a number, got 'fast'"),
        ({"lr": True}, "lr", "lr must be a number"),
        ({"lr": 10**400}, "lr", "lr must be a finite number"),
        ({"bs": 0}, "bs", "bs (batch size) must be >= 1, got 0"),
        ({"bs": 2.5}, "bs", "bs must be a whole number, got 2.5"),
        ({"epochs": 0}, "epochs", "epochs must be >= 1"),
        ({"seed": -1}, "seed", "seed must be a whole number from 0 to 2**64-1"),
        ({"seed": True}, "seed", "seed must be a whole number"),
        ({"mom": 1.5}, "mom", "mom must be in [0, 1), got 1.5"),
        ({"sqr_mom": 1.0}, "sqr_mom", "sqr_mom (Adam's second beta) must be in (0, 1)"),
        ({"wd": math.inf}, "wd", "wd (weight decay) must be a finite number >= 0"),
        ({"augment": "yes"}, "augment", "augment must be true or false, got 'yes'"),
        ({"model": 3}, "model", "model must be a string, got 3"),
        ({"model_kwargs": [1]}, "model_kwargs", "model_kwargs must be a dict"),
        ({"dataset": "mnist"}, "loss", "loss 'mnist_loss' is for two classes, but mnist has 10"),
    ],
)
def test_every_bad_option_is_a_config_error_naming_its_field(
    options: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**options)
    assert caught.value.field == field and words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_whole_numbers_for_float_fields_become_floats() -> None:
    config = TrainConfig(lr=1, mom=0, wd=0)
    assert config == TrainConfig() and isinstance(config.lr, float)


@pytest.mark.parametrize("extra", [{"mom": 0.9}, {"wd": 1e-4}])
def test_basic_optimiser_refuses_momentum_and_weight_decay(extra: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="no momentum or weight decay") as caught:
        TrainConfig(opt="basic", **extra)  # type: ignore[arg-type]
    assert caught.value.field == "opt"
    assert TrainConfig(opt="basic").opt == "basic"
