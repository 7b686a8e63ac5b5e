"""Optimisers against ``torch.optim.SGD`` (book: "Creating an optimizer")."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mnist_sgd import SGD, BasicOptim


def problem(seed: int = 0) -> tuple[list[Tensor], Callable[[list[Tensor]], Tensor]]:
    """Two parameters and a loss with a changing gradient (so momentum matters)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(32, 6, generator=g)
    y = torch.rand(32, 1, generator=g)
    params = [torch.randn(6, 1, generator=g).requires_grad_(), torch.zeros(1).requires_grad_()]

    def loss(ps: list[Tensor]) -> Tensor:
        return ((torch.tanh(x @ ps[0] + ps[1]) - y) ** 2).mean()

    return params, loss


def run(make_opt: Callable[[list[Tensor]], object], steps: int = 8) -> list[Tensor]:
    params, loss = problem()
    opt = make_opt(params)
    for _ in range(steps):
        loss(params).backward()
        opt.step()  # type: ignore[attr-defined]
        opt.zero_grad()  # type: ignore[attr-defined]
    return [p.detach() for p in params]


def assert_close_lists(a: list[Tensor], b: list[Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


def test_basic_optim_matches_torch_sgd() -> None:
    ours = run(lambda ps: BasicOptim(ps, lr=0.5))
    theirs = run(lambda ps: torch.optim.SGD(ps, lr=0.5))
    assert_close_lists(ours, theirs)
    assert not torch.equal(ours[0], problem()[0][0])  # it did move


@pytest.mark.parametrize(("mom", "wd"), [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01), (0.9, 0.01)])
def test_sgd_matches_torch_sgd(mom: float, wd: float) -> None:
    ours = run(lambda ps: SGD(ps, lr=0.3, mom=mom, wd=wd))
    theirs = run(lambda ps: torch.optim.SGD(ps, lr=0.3, momentum=mom, weight_decay=wd))
    assert_close_lists(ours, theirs)


def test_basic_optim_step_is_p_minus_grad_times_lr() -> None:
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    p.grad = torch.tensor([0.5, -1.0])
    opt = BasicOptim([p], lr=0.1)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.95, 2.1]))
    opt.zero_grad()
    assert p.grad is None


def test_sgd_without_momentum_is_exactly_basic_optim() -> None:
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            run(lambda ps: SGD(ps, 0.5)), run(lambda ps: BasicOptim(ps, 0.5)), strict=True
        )
    )


def test_parameters_without_gradient_are_left_alone() -> None:
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    a.grad = torch.ones(2)
    for opt in (BasicOptim([a, b], 1.0), SGD([a, b], 1.0, mom=0.9, wd=0.1)):
        opt.step()
    assert torch.equal(b.detach(), torch.ones(2))


def test_momentum_state_round_trip() -> None:
    params, loss = problem()
    opt = SGD(params, 0.3, mom=0.9)
    loss(params).backward()
    opt.step()
    state = opt.state_tensors()
    assert set(state) == {"mom.0", "mom.1"}
    other = SGD([p.detach().clone().requires_grad_() for p in params], 0.3, mom=0.9)
    other.load_state_tensors(state)
    assert all(torch.equal(x, y) for x, y in zip(other.bufs, opt.bufs, strict=True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"momentum 0 has shape \(3,\), parameter \(6, 1\)"):
        other.load_state_tensors({"mom.0": torch.zeros(3)})
    with pytest.raises(ValueError, match="BasicOptim keeps no state"):
        BasicOptim(params, 0.1).load_state_tensors(state)


def test_bad_arguments_name_the_value() -> None:
    p = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match=r"lr must be > 0, got -0\.1"):
        BasicOptim(p, -0.1)
    with pytest.raises(ValueError, match="no parameters"):
        BasicOptim([], 0.1)
    with pytest.raises(ValueError, match=r"mom must be in \[0, 1\), got 1.5"):
        SGD(p, 0.1, mom=1.5)
    with pytest.raises(ValueError, match="wd must be >= 0, got -1"):
        SGD(p, 0.1, wd=-1)
