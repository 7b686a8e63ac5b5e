"""Seconds per epoch of ``Learner.fit`` next to a bare tensor-index loop, in the same run.

    .venv/bin/python benchmarks/bench_learner.py [--epochs 5] [--repeats 7] [--threads N]

The seed's configuration on MNIST_SAMPLE: the linear model (``Linear1``,
``init_params`` std 1), ``mnist_loss``, lr 1.0, batch 256; then ``simple_net``
at lr 0.1. Every contender trains a fresh model from the same seed; each epoch
is a shuffle, the training batches, then loss and accuracy on the validation
set (what ``Learner.fit`` records):

- ``bare``: ``perm = randperm(n)``; ``for i in range(0, n, bs): idx = perm[i:i+bs]``,
  ``x[idx]``, ``y[idx]``, the seed's ``p -= p.grad*lr`` (``simple_net``: plain
  PyTorch, ``torch.optim.SGD``);
- ``bare (index_select)``: the same, gathering with ``index_select`` as our
  ``DataLoader`` does (the bare-tensor limit);
- ``Learner``: ``Learner(dls, model).fit`` over our ``DataLoader`` of the seed's
  ``list(zip(train_x, train_y))``;
- ``Learner (uint8)``: the same over an ``ImageDataset`` (uint8 images made
  floats per batch), as ``mnist-sgd train`` builds it.

Repeats are interleaved (a busy machine's noise falls on every contender
alike) and the median is reported. The bare loop and the Learner draw the same
permutations and take the same steps, so their final weights must be
bitwise equal: the script checks it. Goal: Learner <= 1.2x the bare loop.
Data: ``MNIST_SGD_MIRROR`` (default ``../shared/data``), cache ``MNIST_SGD_CACHE``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from mnist_sgd import (
    SGD,
    DataLoader,
    DataLoaders,
    ImageDataset,
    Learner,
    Linear1,
    batch_accuracy,
    binary_target,
    mnist_loss,
    seed_tensors,
    simple_net,
)
from mnist_sgd.datasets import DataOptions, MnistData, load_dataset

REPO = Path(__file__).resolve().parents[1]
LR = {"linear": 1.0, "simple_net": 0.1}
BS, SEED, GOAL = 256, 42, 1.2


def new_model(name: str) -> nn.Module:
    torch.manual_seed(SEED)
    return Linear1() if name == "linear" else simple_net()


def bare_fit(
    data: MnistData, name: str, epochs: int, index_select: bool = False
) -> tuple[float, nn.Module]:
    """The bare loop; returns (seconds per epoch, model).

    ``index_select``: gather batches with ``x.index_select(0, idx)`` (as our
    ``DataLoader`` does; same values, faster on CPU) instead of ``x[idx]``.
    """
    (x, y), (vx, vy) = seed_tensors(*train(data)), seed_tensors(*valid(data))
    model = new_model(name)
    params, lr = list(model.parameters()), LR[name]
    opt = torch.optim.SGD(params, lr=lr) if name == "simple_net" else None
    generator = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for _ in range(epochs):
        perm, losses = torch.randperm(len(x), generator=generator), []
        for i in range(0, len(x), BS):
            idx = perm[i : i + BS]
            if index_select:
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            else:
                xb, yb = x[idx], y[idx]
            loss = mnist_loss(model(xb), yb)
            loss.backward()
            losses.append(loss.detach())
            if opt is not None:
                opt.step()
                opt.zero_grad()
            else:
                with torch.no_grad():
                    for p in params:
                        p -= p.grad * lr
                        p.grad = None
        with torch.no_grad():
            preds = torch.cat([model(vx[i : i + BS]) for i in range(0, len(vx), BS)])
            _ = (
                float(torch.stack(losses).mean()),
                float(mnist_loss(preds, vy)),
                float(batch_accuracy(preds, vy)),
            )
    return (time.perf_counter() - start) / epochs, model


def learner_fit(data: MnistData, name: str, epochs: int, uint8: bool) -> tuple[float, nn.Module]:
    """``Learner.fit``; returns (seconds per epoch, model)."""
    if uint8:
        train_ds = ImageDataset(data.train_images, binary_target(data.train_labels))
        valid_ds = ImageDataset(data.valid_images, binary_target(data.valid_labels))
    else:
        train_ds = list(zip(*seed_tensors(*train(data)), strict=True))
        valid_ds = list(zip(*seed_tensors(*valid(data)), strict=True))
    dls = DataLoaders(DataLoader(train_ds, BS, shuffle=True, seed=SEED), DataLoader(valid_ds, BS))
    learn = Learner(
        dls, new_model(name), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy
    )
    start = time.perf_counter()
    learn.fit(epochs, lr=LR[name])
    return (time.perf_counter() - start) / epochs, learn.model


def train(data: MnistData) -> tuple[Tensor, Tensor]:
    return data.train_images, data.train_labels


def valid(data: MnistData) -> tuple[Tensor, Tensor]:
    return data.valid_images, data.valid_labels


def compare_weights(a: nn.Module, b: nn.Module) -> str:
    """``same weights`` if bitwise equal, else the largest difference."""
    pairs = list(zip(a.parameters(), b.parameters(), strict=True))
    if all(torch.equal(p, q) for p, q in pairs):
        return "same weights as bare"
    largest = max(float((p - q).detach().abs().max()) for p, q in pairs)
    return f"weights differ from bare by {largest:.1e} (torch.optim.SGD rounds its step apart)"


Fit = Callable[[int], tuple[float, nn.Module]]


def measure(
    contenders: dict[str, Fit], epochs: int, repeats: int
) -> Iterator[tuple[str, list[float], nn.Module]]:
    """One warm-up epoch each, then interleaved repeats.

    Yields (name, seconds per epoch of each repeat, the last model).
    """
    for fit in contenders.values():
        fit(1)
    times: dict[str, list[float]] = {k: [] for k in contenders}
    models: dict[str, nn.Module] = {}
    for _ in range(repeats):
        for key, fit in contenders.items():
            seconds, models[key] = fit(epochs)
            times[key].append(seconds)
    for key in contenders:
        yield key, times[key], models[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (default 5)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (default 7)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mirror = os.environ.get("MNIST_SGD_MIRROR", str(REPO.parent / "shared" / "data"))
    cache = os.environ.get("MNIST_SGD_CACHE")
    data = load_dataset(
        "mnist_sample",
        DataOptions(mirror=mirror, offline=True, cache_dir=Path(cache) if cache else None),
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; {args.epochs} epochs x {args.repeats} repeats"
    )
    for name in LR:
        contenders: dict[str, Fit] = {
            "bare": lambda e, n=name: bare_fit(data, n, e),
            "bare (index_select)": lambda e, n=name: bare_fit(data, n, e, index_select=True),
            "Learner": lambda e, n=name: learner_fit(data, n, e, uint8=False),
            "Learner (uint8)": lambda e, n=name: learner_fit(data, n, e, uint8=True),
        }
        results = list(measure(contenders, args.epochs, args.repeats))
        bare_median = statistics.median(results[0][1])
        print(f"\n{name} (lr {LR[name]}, batch {BS}): median s/epoch [min .. max], ratio to bare")
        for key, seconds, model in results:
            median = statistics.median(seconds)
            same = "" if key == "bare" else "  " + compare_weights(model, results[0][2])
            print(
                f"  {key:20s} {median:.4f} [{min(seconds):.4f} .. {max(seconds):.4f}]  "
                f"{median / bare_median:.2f}x{same}"
            )
        learner = statistics.median(results[2][1])
        ratio, strict = learner / bare_median, learner / statistics.median(results[1][1])
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(
            f"  goal: Learner <= {GOAL}x bare: {ratio:.2f}x, {verdict} "
            f"({strict:.2f}x the bare loop with index_select)"
        )


if __name__ == "__main__":
    main()
