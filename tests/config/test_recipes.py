"""Named recipes: frozen, valid, listed by ``mnist-sgd recipes``, and overridable from ``train``."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from mnist_sgd.cli import main
from mnist_sgd.config.build import TrainConfig
from mnist_sgd.config.recipes import RECIPES, SUMMARIES, describe, get_recipe, options, recipe_names
from mnist_sgd.config.registry import LOSSES, MODELS

EXPECTED = {
    "seed",
    "mnist-linear",
    "mnist-mlp",
    "mnist-fast",
    "mnist-best",
    "sample-cnn",
    "fashion-best",
}
DATASETS = {"mnist_sample", "mnist", "mnist_png", "fashion_mnist"}


def test_the_named_recipes_exist_and_are_valid_configs() -> None:
    assert set(recipe_names()) >= EXPECTED and set(SUMMARIES) == set(RECIPES)
    for name, config in RECIPES.items():
        assert isinstance(config, TrainConfig), name
        assert config.model in MODELS and config.dataset in DATASETS
        binary = LOSSES[config.loss].binary
        assert not binary or config.dataset == "mnist_sample", (
            f"{name}: a binary loss needs 2 classes"
        )


def test_seed_recipe_is_the_defaults() -> None:
    assert get_recipe("seed") == TrainConfig()
    assert options("seed") == {}
    assert describe("seed").endswith("(the defaults)")


def test_recipes_are_frozen_and_handed_out_as_copies() -> None:
    config = get_recipe("mnist-linear")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 9.0  # type: ignore[misc]
    config.model_kwargs["std"] = 123.0
    assert get_recipe("mnist-linear").model_kwargs == {"std": 0.01}


def test_unknown_recipe_lists_the_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown recipe 'mnist-huge'; choose one of: seed, .*mnist-best"
    ):
        get_recipe("mnist-huge")


def test_describe_shows_what_differs_from_the_seed() -> None:
    text = describe("mnist-fast")
    assert text.startswith("mnist-fast: ")
    for part in (
        "dataset=mnist",
        "model=cnn",
        "loss=cross_entropy",
        "opt=adam",
        "schedule=one_cycle",
    ):
        assert part in text
    assert "augment=true" in describe("mnist-best")


def test_recipes_command_text_json_and_one_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["recipe", "what", "it"]
    assert [line.split()[0] for line in lines] == recipe_names()
    assert "model=cnn_best" in lines[recipe_names().index("mnist-best")]
    assert main(["recipes", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["mnist-best"]["options"] == dataclasses.asdict(RECIPES["mnist-best"])
    assert main(["recipes", "fashion-best"]) == 0
    assert "fashion_mnist" in capsys.readouterr().out


def test_recipes_command_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_recipes_show_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "--help"]) == 0
    assert "mnist-best," in capsys.readouterr().out


def test_train_flags_override_a_recipe() -> None:
    from mnist_sgd.cli.train import config_from_args

    args = argparse.Namespace(recipe="mnist-fast", epochs=3, lr=None, dataset="mnist_png")
    config = config_from_args(args)
    assert config == dataclasses.replace(RECIPES["mnist-fast"], epochs=3, dataset="mnist_png")
