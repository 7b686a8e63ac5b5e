"""End to end on the real MNIST_SAMPLE: the chapter's three trainings and its baseline.

Floors (book figure in brackets): from-scratch loop >= 0.965 (0.9696), Learner
with a linear module >= 0.965 (0.9676), ``simple_net`` >= 0.98 (0.9828), pixel
similarity ~0.95 (0.9511). Seeded, so each run is the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from mnist_sgd import (
    SGD,
    BasicOptim,
    DataLoader,
    DataLoaders,
    Learner,
    Linear1,
    PixelSimilarity,
    batch_accuracy,
    init_params,
    linear1,
    mnist_loss,
    seed_tensors,
    simple_net,
    train_epoch,
    validate_epoch,
)
from mnist_sgd.datasets import DataOptions, load_dataset

pytestmark = pytest.mark.slow

Split = tuple[Tensor, Tensor]


@pytest.fixture(scope="module")
def seed_data(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Split, Split]:
    """The seed's ``(train_x, train_y)`` and ``(valid_x, valid_y)``."""
    cache = tmp_path_factory.getbasetemp() / "mnist-sgd-cache"
    options = DataOptions(mirror=str(shared_data), cache_dir=cache, offline=True)
    data = load_dataset("mnist_sample", options)
    return (
        seed_tensors(data.train_images, data.train_labels),
        seed_tensors(data.valid_images, data.valid_labels),
    )


def seed_dls(seed_data: tuple[Split, Split], seed: int = 42) -> DataLoaders:
    """The chapter's ``DataLoader(dset, batch_size=256)`` over ``list(zip(x, y))``, shuffled."""
    (train_x, train_y), (valid_x, valid_y) = seed_data
    return DataLoaders(
        DataLoader(
            list(zip(train_x, train_y, strict=True)), batch_size=256, shuffle=True, seed=seed
        ),
        DataLoader(list(zip(valid_x, valid_y, strict=True)), batch_size=256),
    )


def test_from_scratch_loop_lr_1_batch_256_20_epochs(seed_data: tuple[Split, Split]) -> None:
    dls = seed_dls(seed_data)
    torch.manual_seed(42)
    weights = init_params((28 * 28, 1))  # std 1, as the seed writes it
    bias = init_params(1)

    def model(xb: Tensor) -> Tensor:
        return linear1(xb, weights, bias)

    before = validate_epoch(model, dls.valid)
    opt = BasicOptim([weights, bias], lr=1.0)
    for _ in range(20):
        train_epoch(model, dls.train, opt, mnist_loss)
    after = validate_epoch(model, dls.valid, batch_accuracy)
    assert 0.2 < before < 0.8
    assert after >= 0.965, f"from-scratch loop reached {after:.4f} (book 0.9696)"


def test_learner_with_a_linear_module_10_epochs(seed_data: tuple[Split, Split]) -> None:
    # The book hands its Learner nn.Linear(28*28, 1), whose weights start small
    # (uniform in +-1/28, std ~0.02); Linear1(std=0.02) starts at the same scale.
    # From the seed's std 1, ten epochs land between 0.960 and 0.969 depending
    # on the seed (twenty reach ~0.97: the test above).
    torch.manual_seed(42)
    learn = Learner(
        seed_dls(seed_data),
        Linear1(std=0.02),
        opt_func=SGD,
        loss_func=mnist_loss,
        metrics=batch_accuracy,
    )
    history = learn.fit(10, lr=1.0)
    assert len(history) == 10
    final = history[-1]["batch_accuracy"]
    assert final >= 0.965, f"Learner reached {final:.4f} (book 0.9676)"
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_simple_net_lr_0_1_40_epochs(seed_data: tuple[Split, Split]) -> None:
    torch.manual_seed(42)
    learn = Learner(
        seed_dls(seed_data),
        simple_net(),
        opt_func=SGD,
        loss_func=mnist_loss,
        metrics=batch_accuracy,
    )
    final = learn.fit(40, lr=0.1)[-1]["batch_accuracy"]
    assert final >= 0.98, f"simple_net reached {final:.4f} (book 0.9828)"


def test_pixel_similarity_baseline(seed_data: tuple[Split, Split]) -> None:
    (train_x, train_y), (valid_x, valid_y) = seed_data
    model = PixelSimilarity().fit(train_x, train_y)
    scores = model(valid_x)
    is_3 = scores > 0
    accuracy_3s = is_3[valid_y == 1].float().mean().item()
    accuracy_7s = (~is_3[valid_y == 0]).float().mean().item()
    assert (accuracy_3s + accuracy_7s) / 2 == pytest.approx(0.9511, abs=0.001)  # the book's figure
    assert batch_accuracy(scores, valid_y).item() == pytest.approx(0.95, abs=0.01)
