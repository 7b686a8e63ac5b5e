"""Integration: all ten digits (and 3 vs 7, and clothes) on the real data, through the recipes.

Short runs sized for CI; the full recipes' figures are in ``benchmarks/RESULTS.md``.
Also: a run that stops mid-epoch and resumes (Adam, one-cycle, augmentation,
dropout) ends with exactly the weights of a run that never stopped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from mnist_sgd.callbacks import resume
from mnist_sgd.config.build import TrainConfig, build_learner
from mnist_sgd.config.recipes import get_recipe
from mnist_sgd.config.registry import get_loss
from mnist_sgd.core.learner import Callback, CancelFitException, Learner
from mnist_sgd.core.metrics import evaluate_model
from mnist_sgd.core.model import takes_flat_input
from mnist_sgd.datasets import DataOptions, MnistData, load_dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ten-classes-cache")


def load(name: str, path: Path, cache: Path) -> MnistData:
    return load_dataset(name, DataOptions(path=path, cache_dir=cache, offline=True))


def final_accuracy(config: TrainConfig, data: MnistData) -> float:
    learn = build_learner(config, data, torch.device("cpu"))
    history = learn.fit(config.epochs, lr=config.lr)
    metric = "batch_accuracy" if config.binary else "accuracy"
    return history[-1][metric]


@pytest.mark.slow
def test_linear_model_on_all_ten_digits(shared_data: Path, cache: Path) -> None:
    data = load("mnist", shared_data, cache)
    assert final_accuracy(replace(get_recipe("mnist-linear"), epochs=3), data) >= 0.90


@pytest.mark.slow
def test_short_cnn_run_on_mnist(shared_data: Path, cache: Path) -> None:
    data = load("mnist", shared_data, cache)
    config = replace(get_recipe("mnist-fast"), epochs=1)
    learn = build_learner(config, data, torch.device("cpu"))
    learn.fit(1, lr=config.lr)
    result = evaluate_model(
        learn.model,
        data.valid_images,
        data.valid_labels,
        binary=False,
        flat=takes_flat_input(learn.model),
        loss=get_loss(config.loss),
    )
    assert result["accuracy"] >= 0.985
    assert result["confusion"].shape == (10, 10) and int(result["confusion"].sum()) == 10_000
    assert min(result["per_class"]) > 0.95


@pytest.mark.slow
def test_short_run_on_fashion_mnist(fashion_dir: Path, cache: Path) -> None:
    data = load("fashion_mnist", fashion_dir, cache)
    config = replace(get_recipe("mnist-fast"), dataset="fashion_mnist", epochs=1)
    assert final_accuracy(config, data) >= 0.85


@pytest.mark.slow
def test_mlp_on_mnist_png(shared_data: Path, cache: Path) -> None:
    data = load("mnist_png", shared_data, cache)
    config = replace(get_recipe("mnist-mlp"), dataset="mnist_png", epochs=1)
    assert final_accuracy(config, data) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize(
    ("loss", "model", "floor"),
    [("bce", "cnn", 0.98), ("mnist_loss", "mlp", 0.95), ("cross_entropy", "cnn", 0.98)],
)
def test_mnist_sample_with_binary_and_multiclass_losses(
    shared_data: Path, cache: Path, loss: str, model: str, floor: float
) -> None:
    data = load("mnist_sample", shared_data, cache)
    config = replace(get_recipe("sample-cnn"), loss=loss, model=model, epochs=1)
    assert final_accuracy(config, data) >= floor


@pytest.mark.slow
def test_train_command_with_a_recipe(shared_data: Path, cache: Path, tmp_path: Path) -> None:
    from mnist_sgd import runs
    from mnist_sgd.cli import main

    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--recipe",
            "sample-cnn",
            "--epochs",
            "1",
            "--data-path",
            str(shared_data),
            "--cache-dir",
            str(cache),
            "--offline",
            "--out",
            str(out),
            "--quiet",
            "--no-plots",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    info = runs.read_run_info(out)
    assert info["train"]["schedule"] == "one_cycle" and info["train"]["augment"] is True
    assert info["final"]["batch_accuracy"] >= 0.98
    run = runs.load_run(out)
    data = load("mnist_sample", shared_data, cache)
    probs = run.probabilities(data.valid_images[:64])
    assert probs.shape == (64, 2)


def tiny_data(n: int = 96) -> Any:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 28, 28), dtype=torch.uint8, generator=g)
    for i, label in enumerate(labels.tolist()):  # a bright bar whose row says the class
        images[i, 2 + 2 * label : 4 + 2 * label, 6:22] = 255
    return SimpleNamespace(
        name="mnist",
        classes=tuple("0123456789"),
        train_images=images,
        train_labels=labels,
        valid_images=images[:32],
        valid_labels=labels[:32],
    )


class StopAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.saved = (epoch, batch), None

    def after_batch(self, learn: Learner) -> None:
        if (learn.epoch, learn.iter) == self.at:
            self.saved = resume.state(learn)
            raise CancelFitException


@pytest.mark.parametrize(
    ("model", "dataset"),
    [("cnn_best", "mnist"), ("mlp", "mnist"), ("cnn_vgg", "fashion_mnist")],  # fashion: flips
)
def test_resume_mid_epoch_is_exact_with_adam_one_cycle_and_augmentation(
    model: str, dataset: str
) -> None:
    config = TrainConfig(
        dataset=dataset,
        model=model,
        loss="cross_entropy",
        opt="adam",
        lr=3e-3,
        bs=16,
        epochs=3,
        schedule="one_cycle",
        augment=True,
        model_kwargs={"widths": (4, 8, 8)} if model.startswith("cnn") else {},
    )
    data = SimpleNamespace(**{**vars(tiny_data()), "name": dataset})
    whole = build_learner(config, data)
    whole.fit(config.epochs, lr=config.lr)
    stopper = StopAt(epoch=1, batch=3)
    first = build_learner(config, data, cbs=[resume.Resume(), stopper])
    first.fit(config.epochs, lr=config.lr)
    assert stopper.saved is not None
    tensors, facts = stopper.saved
    assert any(k.startswith("opt.avg.") for k in tensors)
    torch.manual_seed(1234)  # whatever happened in between
    second = build_learner(config, data)
    resume.load_state(second, tensors, facts, lr=config.lr)
    second.fit(config.epochs, lr=config.lr, resume=True)
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[key], value, rtol=0, atol=0)
    assert second.history[-1]["accuracy"] == whole.history[-1]["accuracy"]
