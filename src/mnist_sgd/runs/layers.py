"""A model as ``run.json`` describes it: a registry name, or standard layers as JSON.

The library's ``Linear1`` is recorded by its registry name (``linear``); a standard layer or
an ``nn.Sequential`` of them (the book's ``nn.Linear(28*28,1)`` alone, ``simple_net``, the
library's MLP and CNNs) as a small JSON list of layers, which :func:`build_layers` rebuilds
untrained. Reading it runs no code: only the layer types below can be built.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mnist_sgd.core.model import Linear1, takes_flat_input
from mnist_sgd.errors import ModelFileError

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
