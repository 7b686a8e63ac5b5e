"""The chapter's own picture of the learning rate: fastbook chapter 4's "An End-to-End SGD
Example", a quadratic fitted to a roller coaster's speed over 20 seconds.

Computed as the book writes it, with torch autograd: ``time``, ``speed``, ``f``, ``mse``,
``params.requires_grad_()`` and ``apply_step``; only the two random draws (the noise on the
speeds, the initial params) come from a seeded generator, so that three panels at three
learning rates start from the same points and the same parabola. The studio's page steps
through the answer at the speed control's pace (``GET /api/quadratic``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mnist_sgd.web.shared.images import finite

MAX_STEPS = 1000
MAX_LR = 1.0
LRS = (1e-7, 1e-5, 4e-5)
"""The page's three panels: too small, the book's, too large. At 1e-5 the loss falls from 25,824
to 677 in 8 steps; at 1e-7 it is still 8,774 after 100; above about 3.5e-5 (2 over the loss's
curvature along ``a``, 2 mean(t**4)) each step overshoots further, and at 4e-5 the loss grows
about 1.6 times a step (3e24 after 100, still finite)."""


class BadQuadratic(ValueError):
    """A learning rate, step count or seed the example cannot take (answered 400)."""


def check(lr: float, steps: int, seed: int) -> None:
    """:class:`BadQuadratic` with one line when a value is out of range."""
    if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
        raise BadQuadratic(f"lr must be a number > 0 and <= {MAX_LR:g}, got {lr:g}")
    if not 1 <= steps <= MAX_STEPS:
        raise BadQuadratic(f"steps must be 1 to {MAX_STEPS}, got {steps}")
    if not 0 <= seed < 2**63:
        raise BadQuadratic(f"seed must be 0 or more (below 2**63), got {seed}")


def quadratic_sgd(lr: float, steps: int = 100, seed: int = 42) -> dict[str, Any]:
    """Each step of the book's SGD on the roller coaster: ``steps + 1`` records, from the start.

    Record ``i``: ``params`` (a, b, c) after ``i`` steps, ``preds`` (the parabola at each
    second) and ``loss`` (their mse), the loss the book prints before step ``i + 1``. A loss
    that overflows is null (JSON has no infinity).
    """
    check(lr, steps, seed)
    generator = torch.Generator().manual_seed(seed)

    # the book's code, as written (its torch.randn drawing from the seeded generator)
    time = torch.arange(0, 20).float()
    speed = torch.randn(20, generator=generator) * 3 + 0.75 * (time - 9.5) ** 2 + 1

    def f(t: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        a, b, c = params
        return a * (t**2) + (b * t) + c

    def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((preds - targets) ** 2).mean()

    params = torch.randn(3, generator=generator).requires_grad_()

    def apply_step(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        preds = f(time, params)
        loss = mse(preds, speed)
        loss.backward()
        assert params.grad is not None
        params.data -= lr * params.grad.data
        params.grad = None
        return preds, loss

    records = []
    for _ in range(steps):
        before = params.detach().clone()
        preds, loss = apply_step(params)
        records.append(_record(before, preds, loss))
    with torch.no_grad():
        preds = f(time, params)
        records.append(_record(params.detach(), preds, mse(preds, speed)))
    return finite(
        {
            "lr": lr,
            "seed": seed,
            "time": time.tolist(),
            "speed": speed.tolist(),
            "steps": [{"step": i, **record} for i, record in enumerate(records)],
        }
    )


def _record(params: torch.Tensor, preds: torch.Tensor, loss: torch.Tensor) -> dict[str, Any]:
    return {
        "params": params.tolist(),
        "preds": preds.detach().tolist(),
        "loss": float(loss.detach()),
    }
