"""Run folders: the model (safetensors), ``run.json``, ``metrics.jsonl``, the resume checkpoint.

Model files are safetensors only: loading one never runs code. Every file is
written atomically (``mnist_sgd.files``), so a crash leaves the last good
version. A run folder is loadable as soon as its first epoch has finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import atomic_write_bytes, atomic_write_text
from mnist_sgd.learner import Callback, CancelFitException, Learner

FORMAT = "mnist-sgd/1"
MODEL_FILE, RUN_FILE, METRICS_FILE, CHECKPOINT_FILE = (
    "model.safetensors",
    "run.json",
    "metrics.jsonl",
    "checkpoint.safetensors",
)
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
            f"{path}: not a valid safetensors file ({_short(error)}); retrain or re-copy it"
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


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:160]


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
        raise ModelFileError(f"{path}: is not valid JSON ({_short(error)})") from None
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
        raise ModelFileError(f"{path}: corrupt line ({_short(error)})") from None


def save_model(run_dir: Path, model: nn.Module) -> None:
    """Write the model's weights to ``model.safetensors``."""
    save_tensors(Path(run_dir) / MODEL_FILE, dict(model.state_dict()), {"format": FORMAT})


def build_model(info: dict[str, Any]) -> nn.Module:
    """An untrained model of the kind ``run.json`` describes."""
    from mnist_sgd.model import get_model

    spec = info["model"]
    try:
        return get_model(spec["name"], n_out=int(spec["n_out"]), **spec.get("kwargs", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"run.json describes a model mnist-sgd cannot build: {_short(error)}"
        ) from None


def load_weights(model: nn.Module, tensors: dict[str, Tensor], source: Path) -> None:
    """Load ``tensors`` into ``model`` after checking every name and shape."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{source}: weights do not fit the model in run.json (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); the file belongs to another model"
        )
    for name, value in expected.items():
        got = tensors[name]
        if got.shape != value.shape or got.dtype != value.dtype:
            raise ModelFileError(
                f"{source}: {name} is {tuple(got.shape)} {got.dtype}; the model needs "
                f"{tuple(value.shape)} {value.dtype}; the file belongs to another model"
            )
    model.load_state_dict(tensors)


@dataclass
class Run:
    """A trained run loaded from its folder: model (eval mode), ``run.json``, history."""

    path: Path
    info: dict[str, Any]
    model: nn.Module
    history: list[dict[str, float]]

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def flat(self) -> bool:
        """Whether the model takes ``(n, 784)`` rows (else ``(n, 1, 28, 28)``)."""
        return bool(self.info["model"].get("flat", True))

    def evaluate(self, images: Tensor, labels: Tensor) -> dict[str, Any]:
        """Loss, accuracy, per-class accuracy and confusion matrix on labelled images.

        ``images`` ``(n, 28, 28)`` uint8, ``labels`` ``(n,)`` int64; see
        :func:`mnist_sgd.training.evaluate_model` for what comes back.
        """
        from mnist_sgd.training import evaluate_model

        binary = self.info["model"]["n_out"] == 1
        return evaluate_model(
            self.model, images, labels, binary=binary, flat=self.flat, loss=self.info["loss"]
        )

    @torch.no_grad()
    def predict_proba(self, images: Tensor) -> Tensor:
        """``(n, 28, 28)`` uint8 images -> ``(n, k)`` class probabilities (k = len(classes))."""
        from mnist_sgd.metrics import probabilities

        x = images.float().div(255)
        x = x.flatten(1) if self.flat else x.unsqueeze(1)
        device = next(iter(self.model.parameters()), torch.empty(0)).device
        return probabilities(self.model(x.to(device))).cpu()


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load a run folder: validate ``run.json``, build the model, load checked weights."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    tensors, _ = read_tensors(run_dir / MODEL_FILE)
    model = build_model(info)
    load_weights(model, tensors, run_dir / MODEL_FILE)
    return Run(run_dir, info, model.to(device).eval(), read_history(run_dir))


def save_checkpoint(run_dir: Path, learn: Learner) -> None:
    """Write everything needed to resume to ``checkpoint.safetensors`` (one atomic file)."""
    tensors, facts = learn.state()
    save_tensors(
        Path(run_dir) / CHECKPOINT_FILE, tensors, {"format": FORMAT, "facts": json.dumps(facts)}
    )


def load_checkpoint(run_dir: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read ``checkpoint.safetensors``: (tensors, facts) for ``Learner.load_state``."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        raise ModelFileError(
            f"{run_dir}: holds no {CHECKPOINT_FILE}, so there is nothing to resume"
        )
    tensors, metadata = read_tensors(path)
    try:
        facts = json.loads(metadata["facts"])
    except (KeyError, json.JSONDecodeError):
        raise ModelFileError(
            f"{path}: has no resume facts; it was not written by mnist-sgd"
        ) from None
    return tensors, facts


class SaveEachEpoch(Callback):
    """After every epoch: model, metrics and checkpoint, each written atomically."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def after_epoch(self, learn: Learner) -> None:
        save_model(self.run_dir, learn.model)
        write_history(self.run_dir, learn.history)
        save_checkpoint(self.run_dir, learn)


class StopOnRequest(Callback):
    """Stop cleanly after the current batch once ``request()`` was called (SIGINT, SIGTERM).

    It saves a mid-epoch checkpoint first, so ``fit(resume=True)`` continues
    with exactly the batches and weights an uninterrupted run would have had.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.requested, self.stopped = Path(run_dir), False, False

    def request(self) -> None:
        self.requested = True

    def after_batch(self, learn: Learner) -> None:
        self._stop_if_requested(learn)

    def after_epoch(self, learn: Learner) -> None:
        self._stop_if_requested(learn)

    def _stop_if_requested(self, learn: Learner) -> None:
        if self.requested:
            save_checkpoint(self.run_dir, learn)
            self.stopped = True
            raise CancelFitException
