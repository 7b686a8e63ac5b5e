"""JSON read from run folders with bounds: a size cap before reading, a depth cap before parsing.

Python's ``json`` has neither: a deeply nested line raises ``RecursionError``
and a huge file is read whole. Everything a run folder holds (``run.json``,
``metrics.jsonl``, checkpoint facts, safetensors headers) goes through here.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

from mnist_sgd.errors import ModelFileError, one_line

MAX_DEPTH = 16  # run.json nests 3 deep; nothing of ours comes near 16
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, refusing other kinds of file (a FIFO would hang) and big files.

    Raises:
        FileNotFoundError: there is no ``path`` (callers say what that means).
        ModelFileError: not a regular file, or over ``max_bytes``; the message names ``path``.
    """
    with open_capped(path, max_bytes) as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ModelFileError(f"{path}: grew past {max_bytes} bytes while being read")
    return raw


def open_capped(path: Path, max_bytes: int) -> BinaryIO:
    """``path`` opened for reading once it is checked to be a regular file of at most
    ``max_bytes`` (the errors of :func:`read_bytes`); for readers that stream it."""
    info = Path(path).stat()
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: is not a regular file")
    if info.st_size > max_bytes:
        raise ModelFileError(
            f"{path}: is {info.st_size} bytes, more than the {max_bytes} a run file may hold"
        )
    return Path(path).open("rb")


def loads(text: str | bytes, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` after checking that nothing nests deeper than ``max_depth``.

    Raises:
        ModelFileError: too deep, or not valid JSON; the message names ``where``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ModelFileError(
                f"{where}: is not valid JSON (not UTF-8 text: {one_line(error, 120)})"
            ) from None
    if depth_exceeds(text, max_depth):
        raise ModelFileError(
            f"{where}: is not valid JSON of ours (it nests deeper than {max_depth} levels)"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # ValueError: a number of 5,000 digits
        raise ModelFileError(f"{where}: is not valid JSON ({one_line(error)})") from None


def depth_exceeds(text: str, max_depth: int) -> bool:
    """True if ``text``'s brackets (outside strings) nest deeper than ``max_depth``.

    Removes every innermost ``[]``/``{}`` pair ``max_depth`` times (each pass
    is one C-speed substitution); a pair that remains nests deeper. (Brackets
    that do not match are left to ``json``, which rejects them.)
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _INNERMOST.sub("", brackets)
    return _INNERMOST.search(brackets) is not None
