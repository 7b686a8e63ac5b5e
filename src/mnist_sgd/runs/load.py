"""A trained run read back from its folder: checked weights in the model ``run.json`` names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs.info import FORMAT, INIT_FILE, MODEL_FILE, read_history, read_run_info
from mnist_sgd.runs.tensors import read_tensors, save_tensors, short


def save_model(run_dir: Path, model: nn.Module) -> None:
    """Write the model's weights to ``model.safetensors``."""
    save_tensors(Path(run_dir) / MODEL_FILE, dict(model.state_dict()), {"format": FORMAT})


def save_initial(run_dir: Path, state: dict[str, Tensor]) -> None:
    """Write the weights before training to ``init.safetensors``."""
    save_tensors(Path(run_dir) / INIT_FILE, state, {"format": FORMAT})


def build_model(info: dict[str, Any]) -> nn.Module:
    """An untrained model of the kind ``run.json`` describes."""
    from mnist_sgd.model import get_model

    spec = info["model"]
    if isinstance(spec, dict) and spec.get("name") == "layers":  # runs.export
        from mnist_sgd.runs.export import build_layers

        return build_layers(spec["layers"])
    try:
        return get_model(spec["name"], n_out=int(spec["n_out"]), **spec.get("kwargs", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"run.json describes a model mnist-sgd cannot build: {short(error)}"
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

    def initial_state(self) -> dict[str, Tensor] | None:
        """The weights before training (``init.safetensors``), checked; None if absent.

        Runs made before this file existed have none.
        """
        path = self.path / INIT_FILE
        if not path.exists():
            return None
        tensors, _ = read_tensors(path)
        fresh = build_model(self.info)
        load_weights(fresh, tensors, path)
        return dict(fresh.state_dict())

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
