"""Optimisers: fastbook chapter 4, "Creating an optimizer".

``BasicOptim`` is the chapter's: ``step`` moves every parameter against its
gradient (``p.data -= p.grad*lr``), ``zero_grad`` forgets the gradients.
``SGD`` adds momentum and weight decay, ``Adam`` per-parameter step sizes.
Any of them is an ``opt_func``: ``opt_func(params, lr) -> optimiser``.
``state_tensors``/``load_state_tensors`` save and restore what an optimiser
remembers, for resuming training.
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


class Adam(BasicOptim):
    """Adam, as ``torch.optim.Adam`` does it (``decouple_wd=True``: as ``torch.optim.AdamW``).

    Per parameter: ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2``, then
    ``p -= lr * (m/(1-b1**t)) / (sqrt(v/(1-b2**t)) + eps)``. Weight decay is
    added to the gradient (``g += wd*p``, L2) or, decoupled, shrinks the
    parameter directly (``p *= 1 - lr*wd``).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        wd: float = 0.0,
        decouple_wd: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if wd < 0:
            raise ValueError(f"wd must be >= 0, got {wd}")
        self.betas, self.eps, self.wd, self.decouple_wd = betas, eps, wd, decouple_wd
        self.avgs: list[Tensor | None] = [None] * len(self.params)
        self.sqr_avgs: list[Tensor | None] = [None] * len(self.params)
        self.steps = [0] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            if self.wd and self.decouple_wd:
                p.mul_(1 - self.lr * self.wd)
            elif self.wd:
                grad = grad + self.wd * p
            avg, sqr_avg = self._buffers(i, p)
            self.steps[i] += 1
            avg.lerp_(grad, 1 - b1)
            sqr_avg.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            t = self.steps[i]
            denom = (sqr_avg / (1 - b2**t)).sqrt_().add_(self.eps)
            p.addcdiv_(avg, denom, value=-self.lr / (1 - b1**t))

    def _buffers(self, i: int, p: Tensor) -> tuple[Tensor, Tensor]:
        """The running averages of parameter ``i`` (zeros on its first step)."""
        avg, sqr_avg = self.avgs[i], self.sqr_avgs[i]
        if avg is None or sqr_avg is None:
            avg = self.avgs[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
            sqr_avg = self.sqr_avgs[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return avg, sqr_avg

    def state_tensors(self) -> dict[str, Tensor]:
        state: dict[str, Tensor] = {"steps": torch.tensor(self.steps, dtype=torch.int64)}
        for i, (avg, sqr_avg) in enumerate(zip(self.avgs, self.sqr_avgs, strict=True)):
            if avg is not None and sqr_avg is not None:
                state[f"avg.{i}"], state[f"sqr_avg.{i}"] = avg, sqr_avg
        return state

    def load_state_tensors(self, state: dict[str, Tensor]) -> None:
        steps = state.get("steps")
        if steps is None or steps.shape != (len(self.params),):
            raise ValueError(f"Adam state needs 'steps' for {len(self.params)} parameters")
        self.steps = [int(s) for s in steps.tolist()]
        for i, p in enumerate(self.params):
            avg, sqr_avg = state.get(f"avg.{i}"), state.get(f"sqr_avg.{i}")
            for buf in (avg, sqr_avg):
                if buf is not None and buf.shape != p.shape:
                    raise ValueError(
                        f"Adam state {i} has shape {tuple(buf.shape)}, parameter {tuple(p.shape)}"
                    )
            self.avgs[i] = None if avg is None else avg.to(p.device).clone()
            self.sqr_avgs[i] = None if sqr_avg is None else sqr_avg.to(p.device).clone()
