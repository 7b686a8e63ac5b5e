"""``run.json`` and ``metrics.jsonl``: what a run is, and what it measured epoch by epoch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import atomic_write_text
from mnist_sgd.runs.safejson import loads, open_capped, read_bytes

FORMAT = "mnist-sgd/1"
MODEL_FILE, RUN_FILE, METRICS_FILE, CHECKPOINT_FILE, INIT_FILE = (
    "model.safetensors",
    "run.json",
    "metrics.jsonl",
    "checkpoint.safetensors",
    "init.safetensors",  # the weights before training (what the weight-change pictures subtract)
)


MAX_RUN_BYTES = 1 << 20  # run.json is about 2 KB
MAX_METRICS_BYTES = 64 << 20  # metrics.jsonl: about 200 bytes an epoch
MAX_LINE_BYTES = 64 << 10  # one epoch's record
MAX_KEPT = 5_000  # records a reader keeps of a longer history (read_history thins it)
MAX_CLASSES = 1000


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a run folder, read with bounds and checked for the fields a model needs."""
    path = Path(run_dir) / RUN_FILE
    if not Path(run_dir).is_dir():
        raise ModelFileError(
            f"{run_dir}: no such run folder; train one with 'mnist-sgd train --out {run_dir}'"
        )
    try:
        info = loads(read_bytes(path, MAX_RUN_BYTES), str(path))
    except FileNotFoundError:
        raise ModelFileError(
            f"{run_dir}: holds no {RUN_FILE}; is it a run folder made by 'mnist-sgd train'?"
        ) from None
    check_run_info(info, path)
    return info


def check_run_info(info: Any, path: Path) -> None:
    """Refuse a ``run.json`` whose fields have the wrong types or absurd sizes, by name."""
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: not a {FORMAT} run description (not a JSON object)")
    missing = [k for k in ("format", "dataset", "classes", "model") if k not in info]
    if missing or info.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not a {FORMAT} run description (missing {missing or ['format']})"
        )
    classes, model = info["classes"], info["model"]
    problem = (
        _classes_problem(classes)
        or _model_problem(model, classes)
        or _type_problem(info, {"dataset": str, "loss": str, "train": (dict, type(None))})
    )
    if problem:
        raise ModelFileError(f"{path}: {problem}; the file is damaged or not from mnist-sgd")


def _classes_problem(classes: Any) -> str | None:
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
        return f"classes must be a list of 2 to {MAX_CLASSES} names"
    if not all(isinstance(c, str) and 0 < len(c) <= 100 for c in classes):
        return "classes must be names of 1 to 100 characters"
    return None


def _model_problem(model: Any, classes: list[str]) -> str | None:
    """What is wrong with ``run.json``'s ``model`` entry, or None."""
    from mnist_sgd.config.registry import MODELS

    if not isinstance(model, dict):
        return "model must be an object"
    name, n_out = model.get("name"), model.get("n_out")
    if name == "layers":  # a notebook's own layers, written by runs.export
        if not isinstance(model.get("layers"), dict):
            return "layers must be an object"
    elif not isinstance(name, str) or name not in MODELS:
        return f"model name {str(name)[:40]!r} is not one of {', '.join(MODELS)}"
    fitting = {len(classes), 1} if len(classes) == 2 else {len(classes)}
    if type(n_out) is not int or n_out not in fitting:
        return f"n_out {str(n_out)[:40]} does not fit {len(classes)} classes"
    return _type_problem(model, {"kwargs": dict, "flat": bool})


def _type_problem(facts: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The first optional field of ``facts`` that is present with the wrong type."""
    for key, kind in types.items():
        if key in facts and not isinstance(facts[key], kind):
            return f"{key} has the wrong type ({type(facts[key]).__name__})"
    return None


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")


def write_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Write ``metrics.jsonl``, one epoch a line (the whole file, atomically)."""
    lines = "".join(json.dumps(_jsonable(r)) + "\n" for r in history)
    atomic_write_text(Path(run_dir) / METRICS_FILE, lines)


def _jsonable(record: dict[str, float]) -> dict[str, float | int]:
    return {k: int(v) if k == "epoch" else v for k, v in record.items()}


def read_history(run_dir: Path, keep: int = MAX_KEPT) -> list[dict[str, float]]:
    """The per-epoch records of ``metrics.jsonl`` ([] when absent), streamed with bounds.

    Every line is checked, half a megabyte at a time; memory stays bounded whatever the
    file holds under its cap: past ``2 * keep`` records every other one is dropped (the
    curves keep their shape, each record its ``epoch``), and the last epoch is always kept.
    """
    path = Path(run_dir) / METRICS_FILE
    try:
        handle = open_capped(path, MAX_METRICS_BYTES)
    except FileNotFoundError:
        return []
    kept: list[dict[str, float]] = []
    seen, stride, last = 0, 1, None
    with handle:
        for first, chunk, lines in _batches(handle, path):
            records = _records(chunk, lines, first, path)
            if not records:
                continue
            kept.extend(records[-seen % stride :: stride])  # the records at multiples of stride
            seen, last = seen + len(records), records[-1]
            while len(kept) >= 2 * keep:
                kept, stride = kept[::2], stride * 2
    if last is not None and kept[-1] is not last:
        kept.append(last)
    return kept


def _batches(handle: BinaryIO, path: Path) -> Iterator[tuple[int, bytes, list[bytes]]]:
    """``(first line's number, whole lines as read, those lines)``, about 512 KiB at a time;
    a line past 64 KiB refused."""
    number, total, rest = 1, 0, b""
    while block := handle.read(_BLOCK):
        total += len(block)
        if total > MAX_METRICS_BYTES:
            raise ModelFileError(f"{path}: grew past {MAX_METRICS_BYTES} bytes while being read")
        end = block.rfind(b"\n")
        if end < 0:
            rest += block
            _check_lengths([rest], number, path)
            continue
        chunk, rest = rest + block[:end], block[end + 1 :]
        lines = chunk.split(b"\n")
        _check_lengths([*lines, rest], number, path)
        yield number, chunk, lines
        number += len(lines)
    if rest:
        yield number, rest, [rest]


def _check_lengths(lines: list[bytes], first: int, path: Path) -> None:
    if max(map(len, lines)) >= MAX_LINE_BYTES:
        long = next(i for i, line in enumerate(lines) if len(line) >= MAX_LINE_BYTES)
        raise ModelFileError(f"{path} line {first + long}: longer than any record")


_BLOCK = 512 << 10


def _records(chunk: bytes, lines: list[bytes], first: int, path: Path) -> list[dict[str, float]]:
    """The records of ``lines`` (``chunk``: the same lines joined by newlines).

    As one JSON array (C speed) when the lines are as we write them: each one ``{...}``
    with no other brace and no bracket (so nothing nests: no depth check needed), every
    value a number. Otherwise line by line, to say which line is wrong."""
    count = len(lines)
    if (
        chunk[:1] == b"{"
        and chunk[-1:] == b"}"
        and chunk.count(b"{") == count == chunk.count(b"}")
        and chunk.count(b"}\n{") == count - 1
        and b"[" not in chunk
    ):
        try:
            records = json.loads("[" + chunk.replace(b"\n", b",").decode("utf-8") + "]")
        except (ValueError, RecursionError):
            records = None
        if (
            isinstance(records, list)
            and len(records) == count
            and set(map(type, records)) == {dict}
            and set(map(type, chain.from_iterable(map(dict.values, records)))) <= _NUMBERS
        ):
            return records
    records = []
    for number, line in enumerate(lines, start=first):  # unusual, or wrong: line by line
        if line.strip():
            record = loads(line, f"{path}: corrupt line {number}", max_depth=2)
            if not _is_record(record):
                raise ModelFileError(f"{path} line {number}: not a record of numbers")
            records.append(record)
    return records


def _is_record(record: Any) -> bool:
    """A dict of numbers (``type`` in a set, not ``isinstance``: ``True`` is no number here)."""
    return type(record) is dict and {type(v) for v in record.values()} <= _NUMBERS


_NUMBERS = {int, float}


def describe_run(
    *,
    dataset: str,
    classes: list[str],
    model: dict[str, Any],
    loss: str,
    metrics: list[str],
    train: dict[str, Any] | None = None,
    sizes: dict[str, int] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``run.json`` facts (no status yet): all that is needed to rebuild and evaluate a model.

    Args:
        model: ``{"name", "n_out", "kwargs", "flat", "parameters"}``; ``flat`` says whether it
            takes ``(n, 784)`` rows (else ``(n, 1, 28, 28)`` images).
        train: the ``TrainConfig`` as a dict, when the run can be resumed or retrained.
        data: a user's set (a path): ``{"source", "content_sha256", "valid_pct", "split_seed"}``.
    """
    import platform

    import torch

    from mnist_sgd import __version__
    from mnist_sgd.core.data import POSITIVE

    binary = int(model["n_out"]) == 1
    # over 30 lines on purpose: one literal, so run.json's whole schema reads in one place
    return {
        "format": FORMAT,
        "dataset": dataset,
        "classes": list(classes),
        "positive_class": classes[POSITIVE] if binary else None,
        "model": model,
        "loss": loss,
        "metrics": metrics,
        "preprocessing": {
            "input": "28x28 grayscale, white ink on black",
            "scale": "x / 255",
            "layout": "(n, 784)" if model.get("flat", True) else "(n, 1, 28, 28)",
        },
        "train": train,
        "versions": {
            "mnist_sgd": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "sizes": sizes,
        "data": data,
    }
