"""Mixed precision for the training step: bf16 autocast, used only where it was measured faster.

Not in the book. Under ``torch.autocast(dtype=torch.bfloat16)`` the convolutions and
matrix products of the forward pass run in bfloat16 (8 bits of mantissa instead of 23);
the weights, the optimiser, the loss and validation stay float32. On the 2-core
development machine (AMD EPYC with ``avx512_bf16``) a ``cnn_fast`` training step took
about 10 ms instead of 13.5 ms with one torch thread, and a ``cnn_vgg`` step (batch 128)
71-87 ms instead of 134-162 ms with two threads on the quiet machine (benchmarks/RESULTS.md,
"Speedrun and records"). ``TrainConfig(bf16=True)`` asks for it (the ``MixedPrecision``
callback) and :func:`bf16_pays` decides: not on a GPU (not measured) nor on a CPU that
does not do bf16 in hardware (oneDNN emulates it there, 2-3x slower than float32).
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

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})  # CPU flags of bf16 done in hardware


def bf16_pays(device: torch.device, native: bool | None = None) -> bool:
    """True where bf16 autocast was measured faster than float32: a CPU that does bf16 in
    hardware (``native``; asked of the CPU when None, :func:`native_bf16`); float32 elsewhere.

    oneDNN also has bf16 kernels for AVX-512 CPUs without bf16 in hardware, where it emulates
    it: measured 2-3x slower than float32 there (issue 30: ``cnn_fast`` 0.54x, ``cnn_best``
    0.34x, ``cnn_vgg`` 0.36x on an Intel Xeon with AVX-512 and no avx512_bf16).
    """
    if device.type != "cpu":
        return False
    return native_bf16() if native is None else native


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether oneDNN has bf16 kernels here and the CPU's flags say it does bf16 in hardware
    (Linux's ``/proc/cpuinfo``, or ``cpuinfo``'s text); oneDNN's answer alone where the flags
    cannot be read."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is None or not check():
        return False
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read(1 << 20)  # the first CPUs' lines say it all
        except OSError:
            return True
    flags = {f for line in cpuinfo.splitlines() if line.startswith("flags") for f in line.split()}
    return bool(flags & NATIVE_BF16)


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
