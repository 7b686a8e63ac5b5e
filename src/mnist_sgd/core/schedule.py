"""Learning-rate schedules: pure functions of the peak lr and the position in training.

Beyond fastbook chapter 4 ("Stepping with a learning rate" keeps lr fixed):
a schedule gives the lr for each batch, ``schedule(lr, pos) -> lr``, where
``pos`` in [0, 1] is how far the fit has gone (0 = first batch, 1 = the end).
The ``Learner`` calls it before every step (``Learner(lr_schedule=...)``); the schedules
by name are in ``mnist_sgd.config.registry`` (``get_schedule``).
``one_cycle`` is Leslie Smith's 1cycle as fastai runs it: a cosine warm-up
from ``lr/div`` to ``lr`` over the first ``pct_start`` of training, then a
cosine anneal down to ``lr/div_final``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[float, float], float]


def cosine(start: float, end: float, pos: float) -> float:
    """Half a cosine from ``start`` (pos 0) to ``end`` (pos 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * pos)) / 2


def constant(lr: float, pos: float) -> float:
    """The chapter's schedule: the same ``lr`` for every batch."""
    return lr


def one_cycle(
    lr_max: float,
    pos: float,
    *,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
) -> float:
    """1cycle: cosine up from ``lr_max/div`` to ``lr_max``, then down to ``lr_max/div_final``.

    Args:
        lr_max: the peak learning rate (what ``fit(n, lr=...)`` is given).
        pos: position in training, in [0, 1]; values outside are clamped.
        pct_start: the share of training spent warming up, in (0, 1).
        div: ``lr_max / div`` is the starting lr.
        div_final: ``lr_max / div_final`` is the final lr.
    """
    if not 0 < pct_start < 1:
        raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
    pos = min(max(pos, 0.0), 1.0)
    if pos < pct_start:
        return cosine(lr_max / div, lr_max, pos / pct_start)
    return cosine(lr_max, lr_max / div_final, (pos - pct_start) / (1 - pct_start))


def linear_warmup_cosine(lr_max: float, pos: float, *, pct_start: float = 0.1) -> float:
    """A straight warm-up from 0 over ``pct_start``, then a cosine anneal to 0."""
    if not 0 < pct_start < 1:
        raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
    pos = min(max(pos, 0.0), 1.0)
    if pos < pct_start:
        return lr_max * pos / pct_start
    return cosine(lr_max, 0.0, (pos - pct_start) / (1 - pct_start))
