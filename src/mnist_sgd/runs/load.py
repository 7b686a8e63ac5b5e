"""A trained run read back from its folder: checked weights in the model ``run.json`` names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mnist_sgd.errors import ModelFileError
from mnist_sgd.predict.predictor import Predictor
from mnist_sgd.runs.info import (
    FORMAT,
    INIT_FILE,
    MODEL_FILE,
    RUN_FILE,
    read_history,
    read_run_info,
)
from mnist_sgd.runs.layers import build_layers
from mnist_sgd.runs.tensors import Shapes, read_header, read_tensors, save_tensors, short


def save_model(run_dir: Path, model: nn.Module) -> None:
    """Write the model's weights to ``model.safetensors``."""
    save_tensors(Path(run_dir) / MODEL_FILE, dict(model.state_dict()), {"format": FORMAT})


def save_initial(run_dir: Path, state: dict[str, Tensor]) -> None:
    """Write the weights before training to ``init.safetensors``."""
    save_tensors(Path(run_dir) / INIT_FILE, state, {"format": FORMAT})


MAX_PARAMETERS = 50_000_000  # 200 MB of float32; mnist-sgd's biggest net has under 1 M


def build_model(
    info: dict[str, Any], weights: Path | None = None, where: str | Path = RUN_FILE
) -> nn.Module:
    """An untrained model of the kind ``run.json`` describes, checked before it is built.

    The model is first laid out on the ``meta`` device (no memory): its size
    must be sane and, given a ``weights`` file, every tensor's name, dtype and
    shape must match that file's header. Only then is it built for real, so a
    crafted ``run.json`` (a million outputs, a hidden layer of 10**9) is a
    one-line error, not gigabytes of memory. ``where`` names ``run.json`` in errors.
    """
    with torch.device("meta"):
        layout = _build(info, where)
    count = sum(p.numel() for p in layout.parameters())
    if count > MAX_PARAMETERS:
        raise ModelFileError(
            f"{where} describes a model of {count} parameters, more than the "
            f"{MAX_PARAMETERS} mnist-sgd builds; the file is damaged or not from mnist-sgd"
        )
    if weights is not None:
        _check_layout(layout, read_header(weights), weights)
    return _build(info, where)


def _build(info: dict[str, Any], where: str | Path) -> nn.Module:
    from mnist_sgd.config.registry import get_model

    spec = info["model"]
    if isinstance(spec, dict) and spec.get("name") == "layers":  # runs.export
        return build_layers(spec["layers"])
    try:
        return get_model(spec["name"], n_out=int(spec["n_out"]), **spec.get("kwargs", {}))
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as error:
        raise ModelFileError(
            f"{where} describes a model mnist-sgd cannot build: {short(error)}"
        ) from None


def _check_layout(layout: nn.Module, shapes: Shapes, source: Path) -> None:
    """Refuse a weights file whose header does not hold exactly ``layout``'s tensors."""
    expected = {k: (_dtype_name(v.dtype), tuple(v.shape)) for k, v in layout.state_dict().items()}
    if set(expected) != set(shapes):
        missing, unexpected = (
            sorted(set(expected) - set(shapes)),
            sorted(set(shapes) - set(expected)),
        )
        raise ModelFileError(
            f"{source}: weights do not fit the model in run.json (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); the file belongs to another model"
        )
    torch_names = {v: str(k) for k, v in _DTYPE_NAMES.items()}
    for name, want in expected.items():
        (dtype, shape), (want_dtype, want_shape) = shapes[name], want
        if shapes[name] != want:
            raise ModelFileError(
                f"{source}: {name} is {shape} {torch_names.get(dtype, dtype)}; the model needs "
                f"{want_shape} {torch_names.get(want_dtype, want_dtype)}; "
                "the file belongs to another model"
            )


_DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _dtype_name(dtype: torch.dtype) -> str:
    """safetensors' name for ``dtype`` (``F32`` for ``torch.float32``)."""
    return _DTYPE_NAMES.get(dtype, str(dtype))


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


class Run(Predictor):
    """A trained run loaded from its folder: a :class:`Predictor` with ``run.json`` and history."""

    classes: list[str]  # always known: run.json's

    def __init__(
        self,
        path: Path,
        info: dict[str, Any],
        model: nn.Module,
        history: list[dict[str, float]] | None = None,
    ) -> None:
        super().__init__(model, list(info["classes"]), loss=info.get("loss", "cross_entropy"))
        self.path, self.info, self._history = path, info, history

    @property
    def history(self) -> list[dict[str, float]]:
        """The per-epoch records, ``metrics.jsonl`` read (checked, thinned) on first use only:
        ``evaluate`` and ``predict`` never pay for a long one."""
        if self._history is None:
            self._history = read_history(self.path)
        return self._history

    def initial_state(self) -> dict[str, Tensor] | None:
        """The weights before training (``init.safetensors``), checked; None if absent.

        Runs made before this file existed have none.
        """
        path = self.path / INIT_FILE
        if not path.exists():
            return None
        fresh = build_model(self.info, path, self.path / RUN_FILE)
        tensors, _ = read_tensors(path)
        load_weights(fresh, tensors, path)
        return dict(fresh.state_dict())


def load_model(run_dir: Path, info: dict[str, Any]) -> nn.Module:
    """The model ``info`` (``run.json``) describes, with checked ``model.safetensors`` weights."""
    model = build_model(info, run_dir / MODEL_FILE, run_dir / RUN_FILE)  # header checked first
    tensors, _ = read_tensors(run_dir / MODEL_FILE)
    load_weights(model, tensors, run_dir / MODEL_FILE)
    return model


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load a run folder: validate ``run.json``, build the model, load checked weights."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    model = load_model(run_dir, info)
    return Run(run_dir, info, model.to(device).eval())
