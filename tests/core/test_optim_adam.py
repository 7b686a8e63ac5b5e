"""``Adam`` against ``torch.optim.Adam`` and ``torch.optim.AdamW``; its state survives a resume."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mnist_sgd.core.optim import SGD, Adam, BasicOptim


def problem(seed: int = 0) -> tuple[list[Tensor], Callable[[list[Tensor]], Tensor]]:
    """Three parameters (one never gets a gradient) and a loss with a changing gradient."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(32, 6, generator=g)
    y = torch.rand(32, 1, generator=g)
    params = [
        torch.randn(6, 1, generator=g).requires_grad_(),
        torch.zeros(1).requires_grad_(),
        torch.ones(2).requires_grad_(),  # unused: no gradient, never moves
    ]

    def loss(ps: list[Tensor]) -> Tensor:
        return ((torch.tanh(x @ ps[0] + ps[1]) - y) ** 2).mean()

    return params, loss


def run(
    make_opt: Callable[[list[Tensor]], object], steps: int = 10, lrs: list[float] | None = None
) -> list[Tensor]:
    params, loss = problem()
    opt = make_opt(params)
    for i in range(steps):
        if lrs is not None:
            for group in getattr(opt, "param_groups", [opt.__dict__]):
                group["lr"] = lrs[i]
        loss(params).backward()
        opt.step()  # type: ignore[attr-defined]
        opt.zero_grad()  # type: ignore[attr-defined]
    return [p.detach() for p in params]


def assert_close_lists(a: list[Tensor], b: list[Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("betas", "eps", "wd"),
    [
        ((0.9, 0.999), 1e-8, 0.0),
        ((0.8, 0.99), 1e-6, 0.0),
        ((0.9, 0.999), 1e-8, 0.05),
        ((0.0, 0.9), 1e-8, 0.0),
    ],
)
def test_adam_matches_torch_adam(betas: tuple[float, float], eps: float, wd: float) -> None:
    ours = run(lambda ps: Adam(ps, lr=0.05, betas=betas, eps=eps, wd=wd))
    theirs = run(lambda ps: torch.optim.Adam(ps, lr=0.05, betas=betas, eps=eps, weight_decay=wd))
    assert_close_lists(ours, theirs)
    assert not torch.equal(ours[0], problem()[0][0])
    assert torch.equal(ours[2], torch.ones(2))


def test_decoupled_weight_decay_matches_torch_adamw() -> None:
    ours = run(lambda ps: Adam(ps, lr=0.05, wd=0.1, decouple_wd=True))
    theirs = run(lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1))
    assert_close_lists(ours, theirs)


def test_adam_follows_a_changing_lr_like_torch() -> None:
    lrs = [0.001 * 2**i for i in range(10)]
    ours = run(lambda ps: Adam(ps, lr=1.0), lrs=lrs)
    theirs = run(lambda ps: torch.optim.Adam(ps, lr=1.0), lrs=lrs)
    assert_close_lists(ours, theirs)


def test_first_step_moves_each_weight_by_about_lr() -> None:
    p = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    p.grad = torch.tensor([0.5, -100.0, 1e-3])
    Adam([p], lr=0.1).step()
    # m/(1-b1) / sqrt(v/(1-b2)) = g/|g|: a step of lr against the sign, whatever the scale
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9, 2.9]), rtol=0, atol=1e-4)


def test_state_round_trip_resumes_exactly() -> None:
    params, loss = problem()
    opt = Adam(params, lr=0.05)
    for _ in range(4):
        loss(params).backward()
        opt.step()
        opt.zero_grad()
    state = {k: v.clone() for k, v in opt.state_tensors().items()}
    assert state["steps"].tolist() == [4, 4, 0]
    assert set(state) == {"steps", "avg.0", "sqr_avg.0", "avg.1", "sqr_avg.1"}
    copies = [p.detach().clone().requires_grad_() for p in params]
    resumed = Adam(copies, lr=0.05)
    resumed.load_state_tensors(state)
    for ps, o in ((params, opt), (copies, resumed)):
        for _ in range(3):
            loss(ps).backward()
            o.step()
            o.zero_grad()
    assert_close_lists([p.detach() for p in params], [p.detach() for p in copies])


def test_state_refuses_a_wrong_shape_or_missing_steps() -> None:
    params, _ = problem()
    opt = Adam(params, lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        opt.load_state_tensors({})
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        opt.load_state_tensors({"steps": torch.zeros(3, dtype=torch.long), "avg.0": torch.zeros(3)})


def test_bad_arguments_name_the_value() -> None:
    p = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        Adam(p, lr=-1)
    with pytest.raises(ValueError, match=r"betas must be in \[0, 1\), got \(0.9, 1.0\)"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam(p, eps=0)
    with pytest.raises(ValueError, match="wd must be >= 0"):
        Adam(p, wd=-0.1)


def test_adam_is_an_opt_func_like_the_others() -> None:
    for cls in (BasicOptim, SGD, Adam):
        opt = cls([torch.zeros(2, requires_grad=True)], 0.1)
        assert isinstance(opt, BasicOptim) and opt.lr == 0.1
