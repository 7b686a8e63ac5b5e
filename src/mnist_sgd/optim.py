"""Optimisers: fastbook chapter 4, "Creating an optimizer".

``BasicOptim`` is the chapter's: ``step`` moves every parameter against its
gradient (``p.data -= p.grad*lr``), ``zero_grad`` forgets the gradients.
``SGD`` adds momentum and weight decay. Any of them is an ``opt_func``:
``opt_func(params, lr) -> optimiser``. ``state_tensors``/``load_state_tensors``
save and restore what an optimiser remembers, for resuming training.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class BasicOptim:
    """The chapter's optimiser: plain gradient descent on a list of parameters."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.params, self.lr = list(params), lr
        if not self.params:
            raise ValueError("the optimiser got no parameters to train")

    @torch.no_grad()
    def step(self) -> None:
        """Move each parameter a step of ``lr`` against its gradient."""
        for p in self.params:
            if p.grad is not None:
                p.data -= p.grad.data * self.lr

    def zero_grad(self) -> None:
        """Forget the gradients (the next ``backward`` would add to them)."""
        for p in self.params:
            p.grad = None

    def state_tensors(self) -> dict[str, Tensor]:
        """What the optimiser remembers between steps (nothing, for plain SGD)."""
        return {}

    def load_state_tensors(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`state_tensors`."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)[:3]}")


class SGD(BasicOptim):
    """SGD with optional momentum and weight decay, as ``torch.optim.SGD`` does it.

    ``grad += wd*p``; ``buf = mom*buf + grad`` (first step: ``buf = grad``);
    ``p -= lr*buf``. With ``mom=0, wd=0`` it is exactly ``BasicOptim``.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float, mom: float = 0.0, wd: float = 0.0
    ) -> None:
        super().__init__(params, lr)
        if not 0 <= mom < 1:
            raise ValueError(f"mom must be in [0, 1), got {mom}")
        if wd < 0:
            raise ValueError(f"wd must be >= 0, got {wd}")
        self.mom, self.wd = mom, wd
        self.bufs: list[Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad if self.wd == 0 else p.grad + self.wd * p
            if self.mom:
                buf = self.bufs[i]
                if buf is None:
                    buf = self.bufs[i] = grad.clone()
                else:
                    buf.mul_(self.mom).add_(grad)
                grad = buf
            p.sub_(grad * self.lr)

    def state_tensors(self) -> dict[str, Tensor]:
        return {f"mom.{i}": b for i, b in enumerate(self.bufs) if b is not None}

    def load_state_tensors(self, state: dict[str, Tensor]) -> None:
        for i, p in enumerate(self.params):
            buf = state.get(f"mom.{i}")
            if buf is not None and buf.shape != p.shape:
                raise ValueError(
                    f"momentum {i} has shape {tuple(buf.shape)}, parameter {tuple(p.shape)}"
                )
            self.bufs[i] = None if buf is None else buf.to(p.device).clone()
