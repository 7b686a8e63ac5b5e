"""The errors mnist-sgd raises on purpose.

Every expected failure (bad data, a missing run, a corrupt model file, no
network) is a :class:`MnistSgdError` whose message is one line that says what
went wrong and what to do. The CLI prints that line and exits 1; invalid
arguments are ``ValueError`` and exit 2 (an invalid training option is a
:class:`ConfigError`, naming its field). Anything else is a bug.
"""

from __future__ import annotations

import re


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


class ConfigError(ValueError):
    """A bad training option, from ``TrainConfig``'s one check; ``field`` is the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def one_line(error: object, limit: int | None = None) -> str:
    """An error as one line: its message with whitespace squeezed, cut to ``limit`` characters.

    An ``OSError`` (not one of ours) reads ``"No space left on device: /path"``;
    an exception without a message gives its type's name. PyTorch's C++ noise
    (source places, "Exception raised from ..." traces, advice for its own
    developers) is left out. The CLI, the web servers and the library's own
    messages all quote errors through this.
    """
    if isinstance(error, OSError) and not isinstance(error, MnistSgdError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        text = f"{error.strerror}{where}"
    else:
        text = _TORCH_PREFIX.sub("", _CPP_PLACE.sub("", " ".join(str(error).split())))
        text = text.split(". This is typically")[0].split(" Exception raised from")[0]
        if not text:
            text = type(error).__name__ if isinstance(error, BaseException) else "error"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


_CPP_PLACE = re.compile(r"\[[^\]]*\.(?:cc|cpp|h|hpp):\d+\]\s*")
_TORCH_PREFIX = re.compile(
    r"^(?:Got the following error when running the callback: )?(?:\w+Error: )?"
)
