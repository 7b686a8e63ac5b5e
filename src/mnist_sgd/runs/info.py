"""``run.json`` and ``metrics.jsonl``: what a run is, and what it measured epoch by epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import atomic_write_text
from mnist_sgd.runs.tensors import short

FORMAT = "mnist-sgd/1"
MODEL_FILE, RUN_FILE, METRICS_FILE, CHECKPOINT_FILE, INIT_FILE = (
    "model.safetensors",
    "run.json",
    "metrics.jsonl",
    "checkpoint.safetensors",
    "init.safetensors",  # the weights before training (what the weight-change pictures subtract)
)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a run folder, checked for the fields a model needs."""
    path = Path(run_dir) / RUN_FILE
    if not Path(run_dir).is_dir():
        raise ModelFileError(
            f"{run_dir}: no such run folder; train one with 'mnist-sgd train --out {run_dir}'"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{run_dir}: holds no {RUN_FILE}; is it a run folder made by 'mnist-sgd train'?"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: is not valid JSON ({short(error)})") from None
    missing = [k for k in ("format", "dataset", "classes", "model") if k not in info]
    if missing or info.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not a {FORMAT} run description (missing {missing or ['format']})"
        )
    return info


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")


def write_history(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Write ``metrics.jsonl``, one epoch a line (the whole file, atomically)."""
    lines = "".join(json.dumps(_jsonable(r)) + "\n" for r in history)
    atomic_write_text(Path(run_dir) / METRICS_FILE, lines)


def _jsonable(record: dict[str, float]) -> dict[str, float | int]:
    return {k: int(v) if k == "epoch" else v for k, v in record.items()}


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The per-epoch records of ``metrics.jsonl`` ([] when absent)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: corrupt line ({short(error)})") from None


def describe_run(
    *,
    dataset: str,
    classes: list[str],
    model: dict[str, Any],
    loss: str,
    metrics: list[str],
    train: dict[str, Any] | None = None,
    sizes: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The ``run.json`` facts (no status yet): all that is needed to rebuild and evaluate a model.

    Args:
        model: ``{"name", "n_out", "kwargs", "flat", "parameters"}``; ``flat`` says whether it
            takes ``(n, 784)`` rows (else ``(n, 1, 28, 28)`` images).
        train: the ``TrainConfig`` as a dict, when the run can be resumed or retrained.
    """
    import platform

    import torch

    from mnist_sgd import __version__

    binary = int(model["n_out"]) == 1
    # over 30 lines on purpose: one literal, so run.json's whole schema reads in one place
    return {
        "format": FORMAT,
        "dataset": dataset,
        "classes": list(classes),
        "positive_class": classes[0] if binary else None,
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
    }
