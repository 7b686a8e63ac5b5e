"""Losses against PyTorch and against hand computations (book: "The MNIST loss function")."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_sgd import (
    binary_cross_entropy,
    cross_entropy,
    log_softmax,
    mnist_loss,
    mnist_loss_on_probs,
    nll_loss,
    sigmoid,
    softmax,
)
from mnist_sgd.config.registry import get_loss

EXTREMES = torch.tensor([-1000.0, -100.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 100.0, 1000.0])


def test_sigmoid_matches_torch_sigmoid_even_at_extremes() -> None:
    x = torch.cat([EXTREMES, torch.linspace(-30, 30, 2001)]).requires_grad_()
    ours = sigmoid(x)
    ours.sum().backward()
    assert x.grad is not None
    our_grad = x.grad.clone()
    x.grad = None
    theirs = torch.sigmoid(x)
    theirs.sum().backward()
    assert torch.isfinite(ours).all() and torch.isfinite(our_grad).all()
    torch.testing.assert_close(ours, theirs, atol=2e-7, rtol=0)
    torch.testing.assert_close(our_grad, x.grad, atol=2e-7, rtol=0)
    assert sigmoid(torch.tensor(-1000.0)) == 0 and sigmoid(torch.tensor(1000.0)) == 1


def test_sigmoid_is_the_seeds_formula() -> None:
    x = torch.linspace(-10, 10, 101)
    torch.testing.assert_close(sigmoid(x), 1 / (1 + torch.exp(-x)))
    assert sigmoid(torch.zeros(2, 3)).shape == (2, 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-200, 200, allow_nan=False, width=32), min_size=1, max_size=20))
def test_sigmoid_property_in_unit_interval_and_monotone(values: list[float]) -> None:
    x = torch.tensor(sorted(values))
    y = sigmoid(x)
    assert ((y >= 0) & (y <= 1)).all()
    assert (y[1:] >= y[:-1]).all()


def test_the_seeds_pre_sigmoid_loss_numbers() -> None:
    trgts = torch.tensor([1, 0, 1])
    prds = torch.tensor([0.9, 0.4, 0.2])
    torch.testing.assert_close(
        torch.where(trgts == 1, 1 - prds, prds), torch.tensor([0.1, 0.4, 0.8])
    )
    assert round(mnist_loss_on_probs(prds, trgts).item(), 4) == 0.4333
    assert round(mnist_loss_on_probs(torch.tensor([0.9, 0.4, 0.8]), trgts).item(), 4) == 0.2333


def test_mnist_loss_matches_a_hand_computation() -> None:
    scores = [2.0, -1.0, 0.5, -3.0]
    targets = [1, 0, 0, 1]

    def s(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    by_hand = sum(1 - s(v) if t == 1 else s(v) for v, t in zip(scores, targets, strict=True)) / 4
    loss = mnist_loss(torch.tensor(scores).unsqueeze(1), torch.tensor(targets).unsqueeze(1))
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert loss.ndim == 0


def test_mnist_loss_is_smooth_where_accuracy_is_not() -> None:
    scores = torch.tensor([[0.3], [-0.2]], requires_grad=True)
    mnist_loss(scores, torch.tensor([[1], [0]])).backward()
    assert scores.grad is not None and (scores.grad != 0).all()


def test_shape_guard_explains_the_broadcast_bug() -> None:
    preds, targets = torch.zeros(5, 1), torch.ones(5, dtype=torch.long)
    # what the guard prevents: (5, 1) against (5,) silently becomes a (5, 5) matrix
    assert torch.where(targets == 1, 1 - preds, preds).shape == (5, 5)
    for loss in (mnist_loss, mnist_loss_on_probs, binary_cross_entropy):
        with pytest.raises(ValueError, match=r"\(5, 1\).*\(5,\).*broadcast.*unsqueeze\(1\)"):
            loss(preds, targets)
    with pytest.raises(ValueError, match=r"\(5,\).*\(5, 1\).*unsqueeze\(1\)"):
        mnist_loss(torch.zeros(5), torch.ones(5, 1))
    with pytest.raises(ValueError, match=r"mnist_loss: .*\(4, 1\).*\(5, 1\)"):
        mnist_loss(torch.zeros(4, 1), torch.ones(5, 1))


def test_binary_cross_entropy_matches_torch_even_at_extremes() -> None:
    x = EXTREMES.unsqueeze(1)
    for t in (torch.zeros_like(x), torch.ones_like(x)):
        ours = binary_cross_entropy(x, t.long())
        assert torch.isfinite(ours)
        torch.testing.assert_close(ours, F.binary_cross_entropy_with_logits(x, t))


def test_softmax_family_matches_torch() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 10, generator=g) * 30
    x[0, 0] = 1000.0
    y = torch.randint(0, 10, (6,), generator=g)
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1))
    torch.testing.assert_close(log_softmax(x), torch.log_softmax(x, dim=-1))
    torch.testing.assert_close(cross_entropy(x, y), F.cross_entropy(x, y))
    torch.testing.assert_close(nll_loss(log_softmax(x), y), F.nll_loss(torch.log_softmax(x, 1), y))


def test_nll_loss_refuses_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(n, k\).*\(6, 1\)"):
        nll_loss(torch.zeros(6, 10), torch.zeros(6, 1, dtype=torch.long))


def test_get_loss_by_name() -> None:
    assert get_loss("mnist_loss") is mnist_loss
    with pytest.raises(ValueError, match=r"unknown loss 'mse'.*mnist_loss"):
        get_loss("mse")
