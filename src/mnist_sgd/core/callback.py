"""Callbacks: code that runs at named events of ``Learner.fit`` (fastai's and miniai's design).

``EVENTS`` in the order ``fit`` calls them; a callback overrides any of them,
and raises :class:`CancelFitException` to end the fit cleanly.
"""

from __future__ import annotations

from typing import Any

# The Learner, which imports this module: callbacks above the core name it as such.
Learner = Any

EVENTS = ("before_fit", "before_epoch", "before_batch", "after_batch", "after_epoch", "after_fit")


class CancelFitException(Exception):
    """Raise from a callback to end ``fit`` cleanly (early stop, Ctrl-C, the lr finder)."""


class Callback:
    """Base class: override any of ``EVENTS``; each gets the ``Learner``."""

    def before_fit(self, learn: Learner) -> None: ...
    def before_epoch(self, learn: Learner) -> None: ...
    def before_batch(self, learn: Learner) -> None: ...
    def after_batch(self, learn: Learner) -> None: ...
    def after_epoch(self, learn: Learner) -> None: ...
    def after_fit(self, learn: Learner) -> None: ...
