"""Time to 0.99 on a CUDA GPU (issue 18), data resident on the device: first run and warm.

A prepared script for a machine with a GPU; none was lent to this task, so it has not
been run (benchmarks/RESULTS.md says so). It trains ``mnist-speedrun`` exactly as
``bench_ten_classes.py`` does on the CPU (``build_learner`` on ``--device cuda``: the
uint8 images are copied to the GPU once and every batch is gathered there), stops at
the first epoch whose test accuracy reaches 0.99, and prints, per seed, the seconds of
training and test passes. The first run pays CUDA's start-up and cuDNN's choice of
kernels; the runs after it are warm. Without a CUDA device it says so in one line and
exits with status 2.

    python benchmarks/bench_gpu.py [--seeds 5] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import torch

NO_GPU = "bench_gpu.py: no CUDA device is visible to PyTorch here; nothing was measured"


def run_once(data: Any, seed: int) -> dict[str, Any]:
    """``mnist-speedrun`` on CUDA until 0.99: seconds to get there (None if not), accuracies."""
    from bench_ten_classes import SPEED_RECIPE, TARGET, StopAtAccuracy, time_to

    from mnist_sgd.config.build import build_learner
    from mnist_sgd.config.recipes import get_recipe

    config = replace(get_recipe(SPEED_RECIPE), seed=seed)
    stop = StopAtAccuracy(TARGET, "accuracy")
    start = time.perf_counter()
    learn = build_learner(config, data, torch.device("cuda"), cbs=[stop])  # type: ignore[list-item]
    torch.cuda.synchronize()
    setup = time.perf_counter() - start
    history = learn.fit(config.epochs, lr=config.lr)
    torch.cuda.synchronize()
    result = {"seconds": [r["seconds"] for r in history], "accs": [r["accuracy"] for r in history]}
    return {**result, "time_to": time_to(result), "setup": setup}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs (seeds 0, 1, ...)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    data = benchlib.load("mnist")
    runs = [run_once(data, seed) for seed in range(args.seeds)]
    warm = [r["time_to"] for r in runs[1:] if r["time_to"] is not None]
    summary = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "first_run_s": runs[0]["time_to"],
        "first_run_setup_s": runs[0]["setup"],
        "warm_mean_s": statistics.mean(warm) if warm else None,
        "warm_worst_s": max(warm) if warm else None,
        "runs": runs,
    }
    benchlib.print_facts(summary, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
