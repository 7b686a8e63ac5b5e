"""Safetensors files, read safely: loading one never runs code, and wrong files are named.

Every file is written atomically (``mnist_sgd.files``), so a crash leaves the
last good version.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import atomic_write_bytes

MAX_HEADER = 16 * 1024 * 1024  # a safetensors header past 16 MiB is not one of ours


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Write named tensors as safetensors, atomically."""
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(data, metadata=metadata))


def read_tensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file, refusing pickles, truncation and absurd headers by name."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: no such file; is this a run folder made by 'mnist-sgd train'?"
        ) from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, expected a .safetensors file") from None
    _check_header(path, raw)
    try:
        tensors = st_load(raw)
        header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ModelFileError(
            f"{path}: not a valid safetensors file ({short(error)}); retrain or re-copy it"
        ) from None
    return tensors, dict(header.get("__metadata__") or {})


def _check_header(path: Path, raw: bytes) -> None:
    """Catch the common wrong files before parsing: empty, pickle, zip, huge header, truncated."""
    size = int.from_bytes(raw[:8], "little")
    if len(raw) > 8 and raw[8:9] == b"{" and size <= min(MAX_HEADER, len(raw) - 8):
        return  # a safetensors layout (its length's low byte may well be 0x80: not a pickle)
    if raw[:1] == b"\x80" or raw[:2] == b"PK":
        raise ModelFileError(
            f"{path}: looks like a pickle or torch.save file; mnist-sgd only loads safetensors, "
            "which cannot run code"
        )
    if len(raw) < 8:
        raise ModelFileError(
            f"{path}: is {len(raw)} bytes, too short for a safetensors file (truncated?)"
        )
    if size > MAX_HEADER or size > len(raw) - 8:
        raise ModelFileError(
            f"{path}: header claims {size} bytes but the file holds {len(raw) - 8}; "
            "the file is truncated or not safetensors"
        )


def short(error: BaseException) -> str:
    return " ".join(str(error).split())[:160]
