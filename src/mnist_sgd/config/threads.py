"""How many CPU threads torch should use: one per core this process may use, less one.

Not in the book: a runtime setting the CLI applies before it works. PyTorch
starts one thread per physical core. Two things make that too many. A
container limited by a CPU quota (``docker --cpus 2`` on a 64-core host, many
CI runners) gets only a share of those cores, so the count is capped at the
quota. And a parallel op waits for its slowest thread, which is slow as soon
as anything else wants a core (the OS, the terminal, a browser): one core is
left to them. On the 2-core development machine, shared with other work (load
average 1.5), one thread was faster than two for every model, from the seed's
linear model to the CNN (benchmarks/RESULTS.md, "Speed (issue 6)"). The count
depends on the machine only, never on its momentary load, so a seeded run
gives the same weights every time on that machine. ``mnist-sgd train`` goes
further: for a model big enough for threads to matter it probes a few steps at
each of :func:`thread_candidates` and keeps the answer per machine and model
(``mnist_sgd.callbacks.speed``), so the count is still one per machine and
model. ``OMP_NUM_THREADS``, when set, is the user's choice: the CLI then leaves
the count alone.

The library never changes the process environment. On a machine other
programs keep busy, OpenMP's spinning idle threads take cores from the
thread doing the work; ``OMP_WAIT_POLICY=PASSIVE`` in the shell (before
Python starts) makes them sleep instead. Measured on the 2-core development
machine at load 11: a linear-model epoch took 0.48-1.14 s with spinning
threads and 0.02-0.08 s with sleeping ones (benchmarks/RESULTS.md, "Speed
(issue 6)"). On a quiet machine the spinning is what makes a second thread pay:
the speedrun's probe chose two threads with the policy unset and one with
``PASSIVE``, on both CPU kinds measured (benchmarks/RESULTS.md, "Issue 30").
The test suite sets it for itself in ``tests/conftest.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


def cpu_quota() -> float | None:
    """This process's cgroup CPU quota in cores (``2.0``); None when unlimited or unknown."""
    try:
        if CGROUP_V2.exists():
            quota, period = CGROUP_V2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_file, period_file = CGROUP_V1
        if quota_file.exists():
            quota_us = int(quota_file.read_text())
            return None if quota_us <= 0 else quota_us / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def sensible_threads(default: int, quota: float | None) -> int:
    """``default`` (torch's: one per physical core) capped at the CPU quota, less one; at least 1.

    >>> sensible_threads(64, 2.0), sensible_threads(8, None), sensible_threads(2, None)
    (1, 7, 1)
    """
    cores = default if quota is None else min(default, math.ceil(quota))
    return max(1, cores - 1)


def thread_candidates(default: int, quota: float | None) -> list[int]:
    """The counts worth probing (``callbacks.speed``): :func:`sensible_threads` first, then
    every core the quota allows, and half of them.

    >>> thread_candidates(2, None), thread_candidates(64, 2.0), thread_candidates(8, None)
    ([1, 2], [1, 2], [7, 4, 8])
    """
    cores = default if quota is None else min(default, math.ceil(quota))
    first = sensible_threads(default, quota)
    return [first, *sorted({cores // 2, cores} - {0, first})]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), whatever torch's count is now."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_sensible_threads() -> int:
    """Set torch's intra-op thread count to :func:`sensible_threads` here; return it."""
    import torch

    threads = sensible_threads(torch.get_num_threads(), cpu_quota())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
