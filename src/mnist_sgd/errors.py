"""The errors mnist-sgd raises on purpose.

Every expected failure (bad data, a missing run, a corrupt model file, no
network) is a :class:`MnistSgdError` whose message is one line that says what
went wrong and what to do. The CLI prints that line and exits 1; invalid
arguments are ``ValueError`` and exit 2. Anything else is a bug.
"""

from __future__ import annotations


class MnistSgdError(Exception):
    """An expected failure with a one-line, actionable message."""


class DataError(MnistSgdError):
    """A dataset is missing, corrupt, or not what it claims to be."""


class DownloadError(DataError):
    """A download failed: no network, a timeout, or a dropped connection."""


class ModelFileError(MnistSgdError):
    """A run folder or model file is missing, corrupt, or does not match its metadata."""


class ImageError(MnistSgdError):
    """A user's image cannot be read or holds no digit."""


class TrainingError(MnistSgdError):
    """Training cannot go on (for example the loss became NaN or infinite)."""
