"""A CNN's training step with and without ``channels_last``'s flatten hook (issue 30).

    .venv/bin/python benchmarks/bench_layout.py [--recipe mnist-speedrun] [--threads 2 1]
        [--bf16/--no-bf16] [--rounds 6] [--steps 50]

The recipe's model, optimiser and loss, on real MNIST batches, laid out as ``train`` lays it
out (``config.build.as_trained``: channels-last, each ``Flatten`` handing its gradient back
channels-last), against a copy of it laid out channels-last without the hook (the gradient
comes back in the default layout). Both in one process, alternately, ``--rounds`` blocks of
``--steps`` steps each; prints ms a step (fastest, median) and the ratio of the medians.
Also checks that both give the same gradients (the hook changes a layout, not a value).
Compare within a run: on a shared host whole stretches of seconds run up to 1.6x slower
(issue 30, benchmarks/RESULTS.md), which the alternation spreads over both.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import torch
from torch import nn

from mnist_sgd.config.build import as_trained, make_opt_func
from mnist_sgd.config.recipes import get_recipe
from mnist_sgd.config.registry import get_loss, get_model
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.datasets import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mnist-speedrun")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    config = get_recipe(args.recipe)
    data = load_dataset(config.dataset, benchlib.data_options())  # as every bench finds it
    xs = data.train_images[: args.steps * config.bs].float().div_(255).unsqueeze(1)
    ys = data.train_labels[: args.steps * config.bs]
    batches = list(zip(xs.split(config.bs), ys.split(config.bs), strict=True))
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(measure(config, batches, args.bf16, args.rounds, threads), flush=True)


def measure(config: TrainConfig, batches: list, bf16: bool, rounds: int, threads: int) -> str:  # type: ignore[type-arg]
    """One line: ms a step with the hook and without, alternately, and the ratio."""
    loss_func = get_loss(config.loss)
    torch.manual_seed(0)
    model = get_model(config.model, n_out=10, **config.model_kwargs)
    models = {  # the same weights; the flatten's hook on the first only
        "hook": as_trained(copy.deepcopy(model)),
        "no hook": model.to(memory_format=torch.channels_last),
    }
    same = same_gradients(*models.values(), loss_func, batches[0])
    opts = {name: make_opt_func(config)(list(m.parameters()), 1e-4) for name, m in models.items()}

    def step(name: str, xb: torch.Tensor, yb: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_func(models[name](xb), yb)
        loss.backward()
        opts[name].step()
        opts[name].zero_grad()

    times: dict[str, list[float]] = {name: [] for name in models}
    for name in models:
        for xb, yb in batches[:5]:
            step(name, xb, yb)  # warm up oneDNN
    for _ in range(rounds):
        for name in models:
            start = time.perf_counter()
            for xb, yb in batches:
                step(name, xb, yb)
            times[name].append((time.perf_counter() - start) / len(batches) * 1e3)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return (
        f"{config.model} {config.model_kwargs}, {threads} thread(s), "
        f"{'bf16' if bf16 else 'float32'}: "
        + "; ".join(
            f"{name} {min(t):.2f} ms a step (median {medians[name]:.2f})"
            for name, t in times.items()
        )
        + f"; no hook / hook {medians['no hook'] / medians['hook']:.3f}x; same gradients: {same}"
    )


def same_gradients(a: nn.Module, b: nn.Module, loss_func, batch) -> bool:  # type: ignore[no-untyped-def]
    """Whether one batch gives both models the same gradients (to float32 rounding)."""
    grads = []
    for model in (a, b):
        torch.manual_seed(0)  # the same dropout masks both times
        loss_func(model(batch[0]), batch[1]).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        model.zero_grad()
    return all(torch.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(*grads, strict=True))


if __name__ == "__main__":
    main()
