"""Every loss of ten classes (and binary cross-entropy) against ``torch.nn.functional``.

Values and gradients, on ordinary scores and on extreme ones (±1000) where a
naive ``softmax(x).log()`` gives ``-inf`` and NaN gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from mnist_sgd.config.registry import get_loss
from mnist_sgd.core.loss import (
    binary_cross_entropy,
    cross_entropy,
    log_softmax,
    nll_loss,
    softmax,
)


def scores(scale: float = 5.0, n: int = 64, k: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(n, k)`` float32 scores and ``(n,)`` int64 class indices."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g) * scale, torch.randint(0, k, (n,), generator=g)


def extreme_scores() -> tuple[Tensor, Tensor]:
    """Rows with ±1000 in every position, the right class both highest and lowest."""
    x = torch.zeros(6, 10)
    x[0, 0], x[1, 0], x[2, :] = 1000.0, -1000.0, 1000.0
    x[3, 3], x[3, 4] = 1000.0, -1000.0
    x[4] = torch.linspace(-1000, 1000, 10)
    x[5] = -torch.linspace(-1000, 1000, 10)
    return x, torch.tensor([0, 0, 9, 4, 0, 0])


def value_and_grad(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """``f(x)`` and the gradient of ``f(x)`` (weighted by fixed random numbers) wrt ``x``."""
    x = x.clone().requires_grad_()
    out = f(x)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    assert x.grad is not None
    return out.detach(), x.grad


def assert_matches(
    ours: Callable[[Tensor], Tensor], theirs: Callable[[Tensor], Tensor], x: Tensor
) -> None:
    value, grad = value_and_grad(ours, x)
    want_value, want_grad = value_and_grad(theirs, x)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(value, want_value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [scores, extreme_scores], ids=["ordinary", "extreme"])
def test_softmax_and_log_softmax_match_torch(make: Callable[[], tuple[Tensor, Tensor]]) -> None:
    x, _ = make()
    assert_matches(softmax, lambda t: torch.softmax(t, dim=-1), x)
    assert_matches(log_softmax, lambda t: torch.log_softmax(t, dim=-1), x)


@pytest.mark.parametrize("make", [scores, extreme_scores], ids=["ordinary", "extreme"])
def test_cross_entropy_and_nll_match_torch(make: Callable[[], tuple[Tensor, Tensor]]) -> None:
    x, y = make()
    assert_matches(lambda t: cross_entropy(t, y), lambda t: F.cross_entropy(t, y), x)
    assert_matches(lambda t: nll_loss(t, y), lambda t: F.nll_loss(t, y), torch.log_softmax(x, 1))


def test_cross_entropy_is_softmax_log_and_nll_the_book_way() -> None:
    x, y = scores(scale=2.0)
    by_hand = -softmax(x).log()[torch.arange(len(y)), y].mean()
    torch.testing.assert_close(cross_entropy(x, y), by_hand)


def test_naive_softmax_log_breaks_where_log_softmax_does_not() -> None:
    x, y = extreme_scores()
    assert torch.isinf(softmax(x).log()).any()  # the trap readers fall into
    assert torch.isfinite(log_softmax(x)).all()
    assert torch.isfinite(cross_entropy(x, y))
    assert cross_entropy(x[:1], y[:1]) == 0  # certain and right costs nothing


def test_binary_cross_entropy_values_and_grads_match_torch() -> None:
    x = torch.cat(
        [torch.tensor([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0]), torch.randn(57) * 5]
    )
    x = x.unsqueeze(1)
    for t in (torch.zeros_like(x), torch.ones_like(x), (torch.rand_like(x) > 0.5).float()):
        assert_matches(
            lambda p, t=t: binary_cross_entropy(p, t.long()).unsqueeze(0),
            lambda p, t=t: F.binary_cross_entropy_with_logits(p, t).unsqueeze(0),
            x,
        )


def test_binary_cross_entropy_refuses_the_broadcast_bug() -> None:
    with pytest.raises(ValueError, match="unsqueeze"):
        binary_cross_entropy(torch.zeros(5, 1), torch.zeros(5, dtype=torch.long))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1000, 1000, allow_nan=False, width=32), min_size=3, max_size=30),
    st.integers(0, 2),
)
def test_property_cross_entropy_matches_torch_for_any_finite_scores(
    values: list[float], target: int
) -> None:
    x = torch.tensor(values[: len(values) // 3 * 3]).view(-1, 3)
    y = torch.full((len(x),), target)
    ours, theirs = cross_entropy(x, y), F.cross_entropy(x, y)
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(softmax(x).sum(-1), torch.ones(len(x)))


def test_cross_entropy_by_name_and_two_classes_like_binary() -> None:
    assert get_loss("cross_entropy") is cross_entropy
    assert get_loss("bce") is binary_cross_entropy
    s = torch.randn(32, 1)
    t = torch.randint(0, 2, (32, 1))
    # two scores (0, s): class 1 wins with probability sigmoid(s), the binary model's view
    two = torch.cat([torch.zeros_like(s), s], dim=1)
    torch.testing.assert_close(cross_entropy(two, t[:, 0]), binary_cross_entropy(s, t))
