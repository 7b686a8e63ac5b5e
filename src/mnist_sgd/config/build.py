"""From names to a ready ``Learner``: what ``mnist-sgd train`` runs, as a library.

``TrainConfig`` (``mnist_sgd.config.train_config``) holds every option by name;
``build_learner`` turns a config and a loaded dataset into ``DataLoaders``, a
model and a ``Learner``, exactly as the chapter wires them by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_sgd.callbacks import speed
from mnist_sgd.callbacks.augment import AugmentedImageDataset, policy_for
from mnist_sgd.callbacks.precision import MixedPrecision
from mnist_sgd.config.registry import get, get_loss, get_model, get_schedule
from mnist_sgd.config.threads import cpu_quota, thread_candidates, usable_cpus
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.core.callback import Callback
from mnist_sgd.core.data import DataLoader, DataLoaders, ImageDataset, binary_target
from mnist_sgd.core.learner import Learner
from mnist_sgd.core.metrics import accuracy, batch_accuracy
from mnist_sgd.core.model import takes_flat_input
from mnist_sgd.core.nets import channels_last
from mnist_sgd.core.optim import SGD, Adam, BasicOptim

if TYPE_CHECKING:
    from mnist_sgd.datasets import MnistData


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; a named device that is absent is a ValueError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError("--device mps: Apple's MPS backend is not available; use --device cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; choose one of: auto, cpu, cuda, mps")
    return torch.device(name)


def make_dls(
    config: TrainConfig,
    data: MnistData,
    device: torch.device | None = None,
    *,
    flat: bool | None = None,
) -> DataLoaders:
    """``DataLoaders`` over a loaded dataset (``MnistData``), targets shaped for the loss.

    ``flat``: whether the model takes ``(n, 784)`` rows (None: asked of ``config.model``'s
    first layer, :func:`mnist_sgd.core.model.takes_flat_input`).
    """
    if flat is None:
        flat = takes_flat_input(get_model(config.model, n_out=1, **config.model_kwargs))
    config.check_classes(len(data.classes), data.name)  # data may be other than config.dataset

    def target(labels: torch.Tensor) -> torch.Tensor:
        return binary_target(labels) if config.binary else labels

    if config.augment:
        train: ImageDataset = AugmentedImageDataset(
            data.train_images, target(data.train_labels), flatten=flat, policy=policy_for(data.name)
        )
    else:
        train = ImageDataset(data.train_images, target(data.train_labels), flatten=flat)
    valid = ImageDataset(data.valid_images, target(data.valid_labels), flatten=flat)
    return DataLoaders(
        DataLoader(train, batch_size=config.bs, shuffle=True, seed=config.seed, device=device),
        DataLoader(valid, batch_size=max(config.bs, 1024), device=device),
    )


def build_learner(
    config: TrainConfig,
    data: MnistData,
    device: torch.device | None = None,
    cbs: Sequence[Callback] = (),
    *,
    bf16: bool | None = None,
) -> Learner:
    """The ``Learner`` for ``config`` on ``data``; seeds torch first so weights are reproducible.

    ``bf16``: train under bf16 autocast or not, as :func:`choose_speed` decided; None: it
    decides now (``config.bf16`` is a wish, used where a probe finds bf16 faster here, at
    torch's thread count now).
    """
    if bf16 is None:  # before the seed: the probe's models draw from torch's generator
        here = [torch.get_num_threads()]
        bf16 = choose_speed(config, data, device, thread_options=here).bf16
    torch.manual_seed(config.seed)
    model = get_model(config.model, n_out=config.n_out(data), **config.model_kwargs)
    if device is not None:
        model = model.to(device)
    flat = takes_flat_input(model)
    if device is None or device.type in ("cpu", "cuda"):
        model = as_trained(model)  # CNNs channels-last; weights are saved contiguous (runs.tensors)
    metric = batch_accuracy if config.binary else accuracy
    return Learner(
        make_dls(config, data, device, flat=flat),
        model,
        opt_func=make_opt_func(config),
        loss_func=get_loss(config.loss),
        metrics=metric,
        cbs=[*cbs, MixedPrecision()] if bf16 else cbs,
        lr_schedule=None if config.schedule == "constant" else get_schedule(config.schedule),
    )


def choose_speed(
    config: TrainConfig,
    data: MnistData,
    device: torch.device | None = None,
    *,
    bf16: bool | None = None,
    threads: int | None = None,
    thread_options: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    may_probe: bool = True,
) -> speed.Speed:
    """bf16 or float32, and how many threads, for ``config``'s model here: the one decision
    (``callbacks.speed.decide``), wired to the registry's model and the cache folder.

    Args:
        bf16, threads: the user's choices (``--bf16``/``--no-bf16``, ``OMP_NUM_THREADS``),
            never probed; None: decided here.
        thread_options: the counts to choose from (None: :func:`threads.thread_candidates`
            of this machine; the library passes torch's count now, leaving it alone).
        cache_dir: the cache folder the answer is kept in (None: the user's).
        may_probe: False in a data-parallel worker (``callbacks.speed.decide``).
    """
    from mnist_sgd.datasets import DataOptions

    n_out = config.n_out(data)
    options = thread_options or thread_candidates(usable_cpus(), cpu_quota())
    flat = takes_flat_input(get_model(config.model, n_out=n_out, **config.model_kwargs))
    shape = (784,) if flat else (1, 28, 28)
    folder = DataOptions(cache_dir=cache_dir).resolved_cache_dir()
    return speed.decide(
        lambda: as_trained(get_model(config.model, n_out=n_out, **config.model_kwargs)),
        lambda n: torch.rand(n, *shape, generator=torch.Generator().manual_seed(0)),
        key=f"{config.model} {config.model_kwargs} n_out={n_out}",
        bs=config.bs,
        wish=config.bf16,
        bf16=bf16,
        threads=threads,
        thread_options=options,
        device_type=(device or torch.device("cpu")).type,
        cache=speed.SpeedCache(folder, speed.machine_id()),
        may_probe=may_probe,
    )


def as_trained(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` laid out as :func:`build_learner` trains it (CNNs channels-last on CPU)."""
    return model if takes_flat_input(model) else channels_last(model)


def make_opt_func(config: TrainConfig) -> Callable[[Iterable[torch.Tensor], float], BasicOptim]:
    """``opt_func(params, lr)`` for optimiser ``config.opt`` with its momentum and weight decay."""
    opt_cls = get("opt", config.opt)
    kwargs: dict[str, Any] = {}
    if opt_cls is SGD:
        kwargs = {"mom": config.mom, "wd": config.wd}
    elif opt_cls is Adam:
        kwargs = {"betas": (config.mom or 0.9, config.sqr_mom), "wd": config.wd}

    def opt_func(params: Iterable[torch.Tensor], lr: float) -> BasicOptim:
        return opt_cls(params, lr, **kwargs)

    return opt_func
