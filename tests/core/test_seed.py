"""The seed, step by step (SPEC.md), on the real MNIST_SAMPLE: every number it prints.

Each test is one step of the seed, run as the seed writes it with the
project's imports; random draws are seeded, and numbers that depend on them
are checked with a tolerance.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import torch
from torch import tensor

from mnist_sgd import (
    DataLoader,
    batch_accuracy,
    init_params,
    linear1,
    mnist_loss,
    mnist_loss_on_probs,
    seed_tensors,
    sigmoid,
)
from mnist_sgd.datasets import DataOptions, MnistData, load_dataset


@pytest.fixture(scope="module")
def sample(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> MnistData:
    cache = tmp_path_factory.getbasetemp() / "mnist-sgd-cache"
    options = DataOptions(mirror=str(shared_data), cache_dir=cache, offline=True)
    return load_dataset("mnist_sample", options)


@pytest.fixture(scope="module")
def seed_xy(sample: MnistData) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 1-2 exactly as the seed writes them: stack the 3s, then the 7s."""
    images, labels = sample.train_images, sample.train_labels
    threes, sevens = images[labels == 0], images[labels == 1]  # classes ("3", "7")
    stacked_threes, stacked_sevens = threes.float() / 255, sevens.float() / 255
    train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28 * 28)
    train_y = tensor([1] * len(threes) + [0] * len(sevens)).unsqueeze(1)
    return train_x, train_y


def test_steps_1_2_shapes(sample: MnistData, seed_xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    train_x, train_y = seed_xy
    assert repr((train_x.shape, train_y.shape)) == (
        "(torch.Size([12396, 784]), torch.Size([12396, 1]))"
    )
    assert train_x.dtype == torch.float32 and train_x.min() >= 0 and train_x.max() <= 1
    valid_x, valid_y = seed_tensors(sample.valid_images, sample.valid_labels)
    assert (valid_x.shape, valid_y.shape) == ((2038, 784), (2038, 1))
    assert int(train_y.sum()) == 6131 and int(valid_y.sum()) == 1010  # the 3s
    # the library's seed_tensors gives the same rows, whatever the order of the data
    order = torch.argsort(sample.train_labels, stable=True)
    lib_x, lib_y = seed_tensors(sample.train_images[order], sample.train_labels[order])
    assert torch.equal(lib_x, train_x) and torch.equal(lib_y, train_y)


def test_step_3_a_dataset_is_a_list_of_pairs(seed_xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    dset = list(zip(*seed_xy, strict=True))
    x, y = dset[0]
    assert x.shape == (784,) and repr(y) == "tensor([1])"
    assert len(dset) == 12396


def test_steps_4_5_init_params_and_one_prediction(
    seed_xy: tuple[torch.Tensor, torch.Tensor],
) -> None:
    train_x, _ = seed_xy
    torch.manual_seed(0)
    weights = init_params((28 * 28, 1))
    bias = init_params(1)
    one = (train_x[0] * weights.T).sum() + bias
    assert one.shape == (1,) and one.grad_fn is not None
    preds = linear1(train_x, weights, bias)
    assert preds.shape == (12396, 1) and preds.grad_fn is not None
    torch.testing.assert_close(one, preds[0], rtol=1e-5, atol=1e-4)


def test_step_6_accuracy_with_random_parameters_is_near_one_half(
    seed_xy: tuple[torch.Tensor, torch.Tensor],
) -> None:
    train_x, train_y = seed_xy

    def random_accuracy() -> float:
        weights, bias = init_params((28 * 28, 1)), init_params(1)
        preds = linear1(train_x, weights, bias)
        corrects = (preds > 0.0).float() == train_y
        assert corrects.shape == (12396, 1) and corrects.dtype == torch.bool
        return corrects.float().mean().item()

    torch.manual_seed(42)
    assert 0.3 <= random_accuracy() <= 0.7  # the seed shows 0.4912
    draws = [random_accuracy() for _ in range(16)]
    assert 0.4 <= sum(draws) / len(draws) <= 0.6


def test_step_7_accuracy_has_no_gradient_mnist_loss_has(
    seed_xy: tuple[torch.Tensor, torch.Tensor],
) -> None:
    train_x, train_y = seed_xy[0][:512], seed_xy[1][:512]
    torch.manual_seed(0)
    weights, bias = init_params((28 * 28, 1)), init_params(1)

    def accuracy_and_loss(w: torch.Tensor) -> tuple[float, float]:
        preds = linear1(train_x, w, bias)
        return batch_accuracy(preds, train_y).item(), mnist_loss(preds, train_y).item()

    # a small change of a weight under a pixel that is often lit (the middle)
    middle = 14 * 28 + 14
    nudged = weights.detach().clone()
    nudged[middle] += 0.05
    acc0, loss0 = accuracy_and_loss(weights)
    acc1, loss1 = accuracy_and_loss(nudged)
    assert acc1 == acc0  # accuracy does not move: its gradient is zero here
    assert loss1 != loss0  # the loss does
    # autograd agrees: accuracy is cut from the graph, the loss has a gradient
    preds = linear1(train_x, weights, bias)
    assert not batch_accuracy(preds, train_y).requires_grad
    mnist_loss(preds, train_y).backward()
    assert weights.grad is not None and weights.grad[middle].item() != 0


def test_step_8_the_loss_scores_confidence() -> None:
    trgts = tensor([1, 0, 1])
    prds = tensor([0.9, 0.4, 0.2])
    assert repr(torch.where(trgts == 1, 1 - prds, prds)) == "tensor([0.1000, 0.4000, 0.8000])"
    assert repr(mnist_loss_on_probs(prds, trgts)) == "tensor(0.4333)"
    assert repr(mnist_loss_on_probs(tensor([0.9, 0.4, 0.8]), trgts)) == "tensor(0.2333)"


def test_step_9_sigmoid_and_the_final_mnist_loss() -> None:
    x = torch.linspace(-5, 5, 11)
    torch.testing.assert_close(sigmoid(x), 1 / (1 + torch.exp(-x)))
    p, t = tensor([[2.0], [-1.0], [0.5]]), tensor([[1], [0], [1]])
    by_seed = torch.where(t == 1, 1 - p.sigmoid(), p.sigmoid()).mean()
    torch.testing.assert_close(mnist_loss(p, t), by_seed)


def test_step_12_range_15_in_batches_of_5() -> None:
    coll = range(15)
    dl = DataLoader(coll, batch_size=5, shuffle=True)
    batches = list(dl)
    assert len(batches) == 3 and all(repr(b).startswith("tensor([") for b in batches)
    assert [b.shape for b in batches] == [(5,)] * 3
    assert sorted(torch.cat(batches).tolist()) == list(range(15))


def test_step_13_tuples_of_int_and_letter_in_batches_of_6() -> None:
    ds = list(enumerate(string.ascii_lowercase))
    d1 = DataLoader(ds, batch_size=6, shuffle=True)
    batches = list(d1)
    assert len(batches) == 5
    for numbers, letters in batches[:4]:
        assert numbers.shape == (6,) and isinstance(letters, tuple) and len(letters) == 6
    numbers, letters = batches[-1]
    assert numbers.shape == (2,) and len(letters) == 2
    pairs = [(n, c) for ns, cs in batches for n, c in zip(ns.tolist(), cs, strict=True)]
    assert sorted(pairs) == ds  # shuffled as pairs: each number keeps its letter
