"""Freed memory kept for the next step: glibc's allocator told not to hand it back at once.

Not in the book: a runtime setting the CLI applies before it works, beside the thread count
(``config.threads``). A training step allocates and frees the same large tensors every time
(a CNN's activations and their gradients: 1.6 MB for the speedrun's first layer at batch
128). glibc's ``malloc`` serves each allocation over its threshold (128 KB at first) with
fresh pages from the kernel and gives them back when freed, and trims the top of its heap
as it shrinks, so every step pays the kernel for page faults and zeroed pages again: 1,875
page faults a step for ``mnist-speedrun``, a fifth of the CPU time spent in the kernel, and
14-19 ms a step instead of 22-24 once they are gone (an AMD EPYC without AVX-512, 2 threads,
float32: benchmarks/RESULTS.md, "Issue 30 on a third CPU kind"). PyTorch's performance guide
suggests preloading another allocator (jemalloc, tcmalloc) for this; glibc's own ``mallopt``
does it without one: allocations up to :data:`MMAP_THRESHOLD` come from the heap, and the
heap is trimmed only when more than :data:`TRIM_THRESHOLD` is free at its top. The process
then keeps what it once used (its peak, which it reached anyway) until it ends.

Where the C library is not glibc (macOS, Windows, musl), nothing changes. The CLI leaves the
allocator alone where the user tunes it (``cli.user_tunes_malloc``: a ``MALLOC_*`` variable
or ``glibc.malloc`` in ``GLIBC_TUNABLES``); the library itself never calls
:func:`keep_freed_memory`.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters, from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # the largest glibc allows on 64-bit systems (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30


def is_glibc() -> bool:
    """True when this process's C library is glibc, the one :func:`keep_freed_memory` tunes."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # no such name here: not glibc
        return False


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory in the heap for the next allocation; True if it took.

    Process-wide and lasting: for entry points (the CLI, the benchmarks, the test suite).
    """
    if not is_glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # a glibc without it, or a process that hides it
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
