"""Mixed precision for the training step: bf16 autocast, used only where it was measured faster.

Not in the book. Under ``torch.autocast(dtype=torch.bfloat16)`` the convolutions and
matrix products of the forward pass run in bfloat16 (8 bits of mantissa instead of 23);
the weights, the optimiser, the loss and validation stay float32. On the 2-core
development machine (AMD EPYC with ``avx512_bf16``) a ``cnn_fast`` training step took
about 10 ms instead of 13.5 ms with one torch thread, while with two threads bf16 steps
were several times slower than float32 (benchmarks/RESULTS.md, "Speedrun"). So
``TrainConfig(bf16=True)`` asks for it and :func:`bf16_pays` decides: the CPU, one thread.
The numbers differ from float32's in the last digits; the tests check they stay close.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def bf16_pays(device: torch.device, threads: int) -> bool:
    """True where bf16 autocast was measured faster than float32: the CPU, with one thread."""
    return device.type == "cpu" and threads == 1


def autocast_forward(model: Callable[[Tensor], Tensor], xb: Tensor, dtype: torch.dtype) -> Tensor:
    """``model(xb)`` under ``dtype`` autocast, returned as float32: ``(n, ...)`` -> ``(n, k)``.

    ``Learner(autocast=torch.bfloat16)`` sends only training batches through it, so the
    loss, the start of its gradient and every validation pass stay float32.
    """
    with torch.autocast(xb.device.type, dtype=dtype):
        return model(xb).float()
