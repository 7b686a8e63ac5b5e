"""Safetensors files, read safely: loading one never runs code, and wrong files are named.

Every file is written atomically (``mnist_sgd.files``), so a crash leaves the
last good version.
"""

from __future__ import annotations

import math
import stat
from pathlib import Path
from typing import Any

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from mnist_sgd.errors import ModelFileError, one_line
from mnist_sgd.files import atomic_write_bytes
from mnist_sgd.runs.safejson import loads

MAX_HEADER = 16 * 1024 * 1024  # a safetensors header past 16 MiB is not one of ours
MAX_FILE = 1 << 30  # the biggest model mnist-sgd trains is a few MB
DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1}
DTYPES |= {"U8": 1, "BOOL": 1}
Shapes = dict[str, tuple[str, tuple[int, ...]]]  # tensor name -> (safetensors dtype, shape)


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Write named tensors as safetensors, atomically."""
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(data, metadata=metadata))


def read_tensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file, refusing pickles, truncation and absurd headers by name."""
    read_header(path)  # names, shapes, sizes and offsets checked before the data is read
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: no such file; is this a run folder made by 'mnist-sgd train'?"
        ) from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, expected a .safetensors file") from None
    _check_header(path, raw[:9], len(raw))
    try:
        tensors = st_load(raw)
        header = loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")], str(path))
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ModelFileError(
            f"{path}: not a valid safetensors file ({short(error)}); retrain or re-copy it"
        ) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return tensors, dict(metadata) if isinstance(metadata, dict) else {}


def read_header(path: Path) -> Shapes:
    """Each tensor's dtype and shape from a safetensors header, without reading the data.

    The header is read with a size and depth limit, and every entry's byte
    range must match its dtype and shape and lie inside the file.
    """
    path = Path(path)
    head, size = _head(path)
    try:
        header = loads(head[8:], "header")
    except ModelFileError as error:
        raise _invalid(path, str(error)) from None
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _invalid(path, "the header must be an object, its __metadata__ strings")
    return {
        name: _entry(path, name, entry, size - len(head))
        for name, entry in header.items()
        if name != "__metadata__"
    }


def _head(path: Path) -> tuple[bytes, int]:
    """The 8-byte length and the JSON header of a regular file, and the file's size."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: no such file; is this a run folder made by 'mnist-sgd train'?"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"{path}: is a folder, expected a .safetensors file")
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
        raise ModelFileError(f"{path}: is not a regular file of at most {MAX_FILE} bytes")
    with path.open("rb") as handle:
        first = handle.read(9)
        _check_header(path, first, info.st_size)
        return first + handle.read(int.from_bytes(first[:8], "little") - 1), info.st_size


def _entry(path: Path, name: str, entry: Any, data_bytes: int) -> tuple[str, tuple[int, ...]]:
    """``(dtype, shape)`` of one header entry, whose offsets must fit dtype, shape and file."""
    if isinstance(entry, dict) and entry.get("dtype") in DTYPES:
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        dims = shape if isinstance(shape, list) else [-1]
        ends = offsets if isinstance(offsets, list) and len(offsets) == 2 else [-1, -1]
        if all(type(d) is int and d >= 0 for d in [*dims, *ends]):
            count = DTYPES[entry["dtype"]] * math.prod(dims)
            if ends[0] <= ends[1] <= data_bytes and ends[1] - ends[0] == count:
                return entry["dtype"], tuple(dims)
    raise _invalid(path, f"the header entry for {name[:60]!r} does not match its data")


def _invalid(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"{path}: not a valid safetensors file ({why}); retrain or re-copy it")


def _check_header(path: Path, first: bytes, size: int) -> None:
    """Catch the common wrong files from the first 9 bytes and the file size.

    Empty, pickle, zip, huge header, truncated: each is named.
    """
    length = int.from_bytes(first[:8], "little")
    if len(first) > 8 and first[8:9] == b"{" and length <= min(MAX_HEADER, size - 8):
        return  # a safetensors layout (its length's low byte may well be 0x80: not a pickle)
    if first[:1] == b"\x80" or first[:2] == b"PK":
        raise ModelFileError(
            f"{path}: looks like a pickle or torch.save file; mnist-sgd only loads safetensors, "
            "which cannot run code"
        )
    if size < 8:
        raise ModelFileError(
            f"{path}: is {size} bytes, too short for a safetensors file (truncated?)"
        )
    if length > MAX_HEADER or length > size - 8:
        raise ModelFileError(
            f"{path}: header claims {length} bytes but the file holds {size - 8}; "
            "the file is truncated or not safetensors"
        )
    raise _invalid(path, "its header is not JSON")


def short(error: BaseException) -> str:
    """The error on one line, short enough to quote inside another message."""
    return one_line(error, limit=160)
