"""Mixed precision for the training step: bf16 autocast, used only where it was measured faster.

Not in the book. Under ``torch.autocast(dtype=torch.bfloat16)`` the convolutions and
matrix products of the forward pass run in bfloat16 (8 bits of mantissa instead of 23);
the weights, the optimiser, the loss and validation stay float32. On the 2-core
development machine (AMD EPYC with ``avx512_bf16``) a ``cnn_fast`` training step took
about 10 ms instead of 13.5 ms with one torch thread, and a ``cnn_vgg`` step (batch 128)
71-87 ms instead of 134-162 ms with two threads on the quiet machine (benchmarks/RESULTS.md,
"Speedrun and records"). ``TrainConfig(bf16=True)`` asks for it (the ``MixedPrecision``
callback) and :func:`bf16_pays` decides: not on a GPU (not measured) nor on a CPU for
which oneDNN has no bf16 kernels.
Two threads on a 2-core machine that other work keeps busy were measured 4-20x slower
in bf16 than in float32; the CLI's one thread (``mnist_sgd.config.threads``) keeps clear of
that, and ``OMP_NUM_THREADS=2`` is for a machine of your own. The numbers differ from
float32's in the last digits; the tests check they stay close.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mnist_sgd.core.callback import Callback
from mnist_sgd.core.learner import Learner


def bf16_pays(device: torch.device, native: bool | None = None) -> bool:
    """True where bf16 autocast was measured faster than float32: a CPU for which oneDNN
    has bf16 kernels (AVX-512 or newer; ``native``, asked of torch when None); float32
    elsewhere, where bf16 was not measured."""
    if device.type != "cpu":
        return False
    if native is None:
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        native = bool(check()) if check is not None else False
    return native


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
