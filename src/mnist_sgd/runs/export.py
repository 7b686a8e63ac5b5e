"""``learn.export(path)``: a notebook's ``Learner`` as a run folder the CLI and the web accept.

The folder is what ``mnist-sgd train`` writes (``run.json`` from
:func:`describe_run` with status ``done``, ``model.safetensors``,
``metrics.jsonl``, ``init.safetensors``): safetensors only, no pickle, so
loading runs no code. The library's ``Linear1`` is recorded by its registry
name (``linear``); a standard layer or an ``nn.Sequential`` of them (the book's
``nn.Linear(28*28,1)`` alone, ``simple_net``, the library's MLP and CNNs) as a
small JSON list of layers, rebuilt by :func:`build_layers`. ``load_learner``
reads any run folder back as a ``Learner`` that predicts the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mnist_sgd.errors import ModelFileError
from mnist_sgd.files import atomic_dir
from mnist_sgd.predict.predictor import takes_flat_input
from mnist_sgd.runs.folder import check_new
from mnist_sgd.runs.info import describe_run, write_history, write_run_info
from mnist_sgd.runs.load import load_run, save_initial, save_model

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner

# layer type -> the constructor arguments read back from an instance (bias: a bool)
LAYERS: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
    "Linear": (nn.Linear, ("in_features", "out_features", "bias")),
    "Conv2d": (
        nn.Conv2d,
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups", "bias"),
    ),
    "BatchNorm1d": (nn.BatchNorm1d, ("num_features", "eps", "momentum")),
    "BatchNorm2d": (nn.BatchNorm2d, ("num_features", "eps", "momentum")),
    "ReLU": (nn.ReLU, ()),
    "Sigmoid": (nn.Sigmoid, ()),
    "Tanh": (nn.Tanh, ()),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    "Dropout": (nn.Dropout, ("p",)),
    "MaxPool2d": (nn.MaxPool2d, ("kernel_size", "stride", "padding")),
    "AvgPool2d": (nn.AvgPool2d, ("kernel_size", "stride", "padding")),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, ("output_size",)),
    "Sequential": (nn.Sequential, ()),
}
EXPORTABLE = "the library's models, and standard layers alone or in an nn.Sequential: " + ", ".join(
    name for name in LAYERS if name != "Sequential"
)


def describe_layers(module: nn.Module) -> dict[str, Any]:
    """``{"type": ..., "args": {...}}`` (a ``Sequential``: ``"layers": [...]``) for ``module``."""
    kind = type(module).__name__
    if kind not in LAYERS or type(module) is not LAYERS[kind][0]:
        raise ModelFileError(f"cannot export a {kind}; what can be exported: {EXPORTABLE}")
    if isinstance(module, nn.Sequential):
        return {"type": kind, "layers": [describe_layers(m) for m in module]}
    args = {name: _jsonable(getattr(module, name)) for name in LAYERS[kind][1]}
    if "bias" in args:
        args["bias"] = getattr(module, "bias", None) is not None
    return {"type": kind, "args": args}


def build_layers(spec: Any) -> nn.Module:
    """The untrained module :func:`describe_layers` described (a ModelFileError if it cannot)."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in LAYERS:
        raise ModelFileError(f"run.json describes an unknown layer {kind!r}; known: {EXPORTABLE}")
    cls = LAYERS[kind][0]
    try:
        if cls is nn.Sequential:
            return nn.Sequential(*(build_layers(layer) for layer in spec["layers"]))
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["args"].items()}
        return cls(**args)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f"run.json describes a {kind} mnist-sgd cannot build: {error}"
        ) from None


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``run.json``'s ``model`` entry for ``model`` (a ModelFileError if it cannot be exported)."""
    from mnist_sgd.core.model import Linear1

    flat = takes_flat_input(model)
    n_out = _n_out(model, flat)
    if type(model) is Linear1 and model.weights.shape[0] == 28 * 28:
        spec: dict[str, Any] = {"name": "linear", "kwargs": {}}
    else:  # a standard layer, or an nn.Sequential of them (describe_layers names the misfit)
        spec = {"name": "layers", "kwargs": {}, "layers": describe_layers(model)}
    parameters = sum(p.numel() for p in model.parameters())
    return {**spec, "n_out": n_out, "flat": flat, "parameters": parameters}


@torch.no_grad()
def _n_out(model: nn.Module, flat: bool) -> int:
    """Outputs per item, from one blank input (the model's mode is put back)."""
    training = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    blank = torch.zeros((1, 28 * 28) if flat else (1, 1, 28, 28), device=device)
    try:
        out = model.eval()(blank)
    except RuntimeError as error:
        raise ModelFileError(f"the model does not take 28x28 images: {error}") from None
    finally:
        model.train(training)
    return int(out.shape[-1])


def export(
    learn: Learner,
    path: str | Path,
    *,
    dataset: str = "mnist_sample",
    classes: list[str] | None = None,
    loss: str | None = None,
) -> Path:
    """Write ``learn`` as a new run folder at ``path``; return it.

    Args:
        dataset: the registry name of the data it was trained on (``evaluate`` scores on it).
        classes: class names (default ``learn.dls.vocab``, else the dataset's; a binary
            model's output > 0 is ``classes[0]``, as the book's target 1 is a 3).
        loss: a registered loss name (default the loss function's ``__name__``).
    """
    path = Path(path)
    check_new(path)
    info = export_info(learn, dataset, classes, loss)
    final = learn.history[-1] if learn.history else {}
    with atomic_dir(path) as folder:
        save_model(folder, learn.model)
        save_initial(folder, learn.initial_state)
        write_history(folder, learn.history)
        write_run_info(folder, {**info, "status": "done", "final": final})
    return path


def export_info(
    learn: Learner, dataset: str, classes: list[str] | None, loss: str | None
) -> dict[str, Any]:
    """``run.json``'s facts for ``learn`` (see :func:`export` for the arguments)."""
    from mnist_sgd.config.registry import LOSSES
    from mnist_sgd.datasets import get_info

    spec = model_spec(learn.model)
    names = list(classes or getattr(learn.dls, "vocab", None) or get_info(dataset).classes)
    loss_name = loss or getattr(learn.loss_func, "__name__", "")
    if loss_name not in LOSSES:
        raise ValueError(f"name the loss: export(..., loss=...), one of: {', '.join(LOSSES)}")
    metrics = [m.__name__ for m in learn.metrics]
    return describe_run(dataset=dataset, classes=names, model=spec, loss=loss_name, metrics=metrics)


def load_learner(path: str | Path, device: str | torch.device = "cpu") -> Learner:
    """A ``Learner`` holding a run folder's model (no data: ``predict`` and ``export`` work)."""
    from mnist_sgd.config.registry import get_loss
    from mnist_sgd.core.data import DataLoader, DataLoaders
    from mnist_sgd.core.learner import Learner

    run = load_run(path, device)
    empty = DataLoader([], batch_size=1)
    dls = DataLoaders(empty, empty, vocab=run.classes)
    return Learner(dls, run.model, loss_func=get_loss(run.info["loss"]))
