"""Mixed precision for the training step: bf16 autocast, the mechanism (``speed`` decides).

Not in the book. Under ``torch.autocast(dtype=torch.bfloat16)`` the convolutions and
matrix products of the forward pass run in bfloat16 (8 bits of mantissa instead of 23);
the weights, the optimiser, the loss and validation stay float32. On the 2-core
development machine (AMD EPYC with ``avx512_bf16``) a ``cnn_fast`` training step took
about 10 ms instead of 13.5 ms with one torch thread, and a ``cnn_vgg`` step (batch 128)
71-87 ms instead of 134-162 ms with two threads on the quiet machine (benchmarks/RESULTS.md,
"Speedrun and records"). On a Xeon that emulates bf16 (AVX-512 without
``avx512_bf16``) the same steps were 2-3x slower (issue 30). So ``TrainConfig(bf16=True)``
only asks for it (the ``MixedPrecision`` callback); ``mnist_sgd.callbacks.speed`` measures
a few steps of the model at hand, float32 against bf16, and decides per machine. The
numbers differ from float32's in the last digits; the tests check they stay close.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mnist_sgd.core.callback import Callback
from mnist_sgd.core.learner import Learner


def autocast_forward(model: Callable[[Tensor], Tensor], xb: Tensor, dtype: torch.dtype) -> Tensor:
    """``model(xb)`` under ``dtype`` autocast, returned as float32: ``(n, ...)`` -> ``(n, k)``.

    ``MixedPrecision`` sends only training batches through it, so the
    loss, the start of its gradient and every validation pass stay float32.
    """
    with torch.autocast(xb.device.type, dtype=dtype):
        return model(xb).float()


class MixedPrecision(Callback):
    """Training batches' forward pass under ``dtype`` autocast (fastai's ``MixedPrecision``).

    The loss, the start of its gradient and every validation pass stay float32.
    """

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        self.dtype = dtype

    def before_fit(self, learn: Learner) -> None:
        # learn.model read at each call: a callback before this one may wrap it (DataParallel)
        learn.train_forward = lambda xb: autocast_forward(learn.model, xb, self.dtype)

    def after_fit(self, learn: Learner) -> None:
        learn.train_forward = None
