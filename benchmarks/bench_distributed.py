"""Data parallel (issue 17): training images per second, 1 process against 2 workers.

Each configuration is ``mnist-sgd train --json`` on MNIST_SAMPLE (12,396 training
images, global batch 256) in its own process(es), run one after another in this
one run: one process with 1 thread, one process with 2 threads, and
``--nproc 2`` (two workers, 1 thread each: the launcher gives each worker
cores // N). A figure is the training images divided by an epoch's wall time
(its validation pass of 2,038 images included), the median over the epochs
after the first (warm-up). Ratios are against the one-process, 1-thread run
measured in the same run.

    python benchmarks/bench_distributed.py [--epochs 3] [--models linear,cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MNIST_SGD_SHARED_DATA", REPO.parent / "shared" / "data"))
N_TRAIN = 12396
MODELS = {"linear": ["--lr", "1.0"], "cnn": ["--model", "cnn", "--lr", "0.1"]}
SETUPS = {  # name: (threads per process, extra flags)
    "1 process, 1 thread": ("1", []),
    "1 process, 2 threads": ("2", []),
    "2 workers, 1 thread each": ("1", ["--nproc", "2"]),
}


def images_per_second(model: str, threads: str, extra: list[str], epochs: int) -> float:
    """Median training images/s over the epochs after the first."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, OMP_NUM_THREADS=threads, OMP_WAIT_POLICY="PASSIVE")
        env.setdefault("MNIST_SGD_MIRROR", str(SHARED_DATA))
        command = [sys.executable, "-m", "mnist_sgd", "train", "--offline", "--json"]
        command += ["--no-plots", "--device", "cpu", "--epochs", str(epochs)]
        command += ["--out", str(Path(out) / "run"), *MODELS[model], *extra]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
        records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return N_TRAIN / statistics.median(r["seconds"] for r in records[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", default="linear,cnn")
    args = parser.parse_args()
    print(f"$ python benchmarks/bench_distributed.py --epochs {args.epochs} --models {args.models}")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min load average), cpus {os.cpu_count()}")
    print("| model | setup | images/s | vs 1 process, 1 thread |")
    print("| --- | --- | ---: | ---: |")
    for model in args.models.split(","):
        base = None
        for setup, (threads, extra) in SETUPS.items():
            rate = images_per_second(model, threads, extra, args.epochs)
            base = base or rate
            print(f"| {model} | {setup} | {rate:,.0f} | {rate / base:.2f}x |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
