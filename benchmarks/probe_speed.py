"""What ``callbacks.speed`` decides for each net on this machine, and its probe's cost (issue 30).

Each net is asked once with a fresh cache folder (the probe runs, if there is anything to
decide) and once more (the answer read back). Run one net per process for a first probe's
real cost: ``for n in seed linear cnn_fast; do python benchmarks/probe_speed.py $n; done``.
The data come as ``mnist-sgd train`` finds them (``--mirror``, ``--cache-dir``, or
``MNIST_SGD_MIRROR``/``MNIST_SGD_CACHE``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from mnist_sgd.config.build import choose_speed
from mnist_sgd.config.recipes import get_recipe
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.datasets import DataOptions, load_dataset

TEN = {"dataset": "mnist", "loss": "cross_entropy", "bf16": True}
CASES = {
    "seed": TrainConfig(),  # as it is: linear, bf16 not asked
    "seed-simple-net": get_recipe("seed-simple-net"),
    "linear": TrainConfig(model="linear", **TEN),  # bf16 asked, to see what the probe finds
    "simple_net": TrainConfig(model="simple_net", **TEN),
    "mnist-fast": get_recipe("mnist-fast"),  # cnn, float32: threads only
    "cnn_fast": get_recipe("mnist-speedrun"),
    "cnn_best": replace(get_recipe("mnist-best"), bf16=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nets", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--mirror", default=os.environ.get("MNIST_SGD_MIRROR"))
    parser.add_argument("--cache-dir", type=Path, default=os.environ.get("MNIST_SGD_CACHE"))
    args = parser.parse_args()
    options = DataOptions(mirror=args.mirror, cache_dir=args.cache_dir)
    loaded: dict[str, object] = {}
    for name in args.nets:
        config = CASES[name]
        if config.dataset not in loaded:
            loaded[config.dataset] = load_dataset(config.dataset, options)
        data = loaded[config.dataset]
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            first = choose_speed(config, data, cache_dir=Path(cache))  # type: ignore[arg-type]
            cost = time.perf_counter() - start
            start = time.perf_counter()
            again = choose_speed(config, data, cache_dir=Path(cache))  # type: ignore[arg-type]
            read = time.perf_counter() - start
        print(
            f"{name} (bs {config.bs}): {first.line()} | choose_speed {cost:.2f} s "
            f"(probe {first.probe_s} s), again {read:.3f} s: {again.line()} | ms a step "
            f"{first.step_ms}",
            flush=True,
        )


if __name__ == "__main__":
    main()
