"""Start-up: what a user waits for each command, next to ``python -c "import torch"``.

Every command runs as a real process (``mnist-sgd`` of this venv) and is timed from
start to exit; in each round ``import torch`` is timed too, right before, so both
see the same machine load. The fastest of the rounds counts. Goals (issue 14):
``--help`` <= 0.3x the torch import; ``train`` (the seed's 20 epochs, warm cache)
<= torch import + 1.0 s; ``predict`` of one image <= torch import + 0.5 s.
``recipes`` and ``report`` are reported against the import without a goal
(``report``: under 3 s on the seed's run is the aim).

    python benchmarks/bench_startup.py [--rounds 5] [--json]

The data come from where every command finds it (``MNIST_SGD_CACHE``,
``MNIST_SGD_MIRROR``); the first, untimed round warms the cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from benchlib import Row


def commands(work: Path) -> dict[str, list[str]]:
    """The timed commands, by name (``work`` holds the seed's run and one image)."""
    cli, data = benchlib.mnist_sgd_command(), benchlib.data_flags()
    run = str(work / "seed")
    return {
        "--help": [*cli, "--help"],
        "recipes": [*cli, "recipes"],
        "train": [*cli, "train", "--quiet", "--out", str(work / "train"), *data],
        "predict": [*cli, "predict", run, str(work / "three.png")],
        "report": [*cli, "report", run, *data],
    }


def prepare(work: Path) -> None:
    """The seed's run (for predict and report) and a 3 from the validation split as PNG."""
    from PIL import Image

    benchlib.wall_time(
        [
            *benchlib.mnist_sgd_command(),
            "train",
            "--quiet",
            "--out",
            str(work / "seed"),
            *benchlib.data_flags(),
        ]
    )
    data = benchlib.load("mnist_sample")
    Image.fromarray(data.valid_images[0].numpy(), mode="L").save(work / "three.png")


def measure(work: Path, rounds: int) -> dict[str, float]:
    """Fastest seconds of each command and of the torch import, interleaved round by round."""
    import shutil

    torch_import = [sys.executable, "-c", "import torch"]
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, command in commands(work).items():
            shutil.rmtree(work / "train", ignore_errors=True)
            for key, timed in (("import torch", torch_import), (name, command)):
                seconds = benchlib.wall_time(timed)
                best[key] = min(best.get(key, seconds), seconds)
    return best


def rows(best: dict[str, float]) -> list[Row]:
    """Each command's figure against the torch import of the same run."""
    torch_s = best["import torch"]
    detail = {name: f"{s:.2f} s; import torch {torch_s:.2f} s" for name, s in best.items()}
    return [
        Row("python -c 'import torch'", torch_s, unit="s", detail="the peer"),
        Row("--help / import torch", best["--help"] / torch_s, goal=("<=", 0.3),
            detail=detail["--help"]),
        Row("recipes / import torch", best["recipes"] / torch_s, detail=detail["recipes"]),
        Row("train - import torch", best["train"] - torch_s, unit="s", goal=("<=", 1.0),
            detail=detail["train"]),
        Row("predict - import torch", best["predict"] - torch_s, unit="s", goal=("<=", 0.5),
            detail=detail["predict"]),
        Row("report", best["report"], unit="s", goal=("<=", 3.0), detail=detail["report"]),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (fastest counts)")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        prepare(work)
        best = measure(work, args.rounds)
    if not args.json:
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start, "
              f"{os.getloadavg()[0]:.2f} at the end; {args.rounds} rounds")  # fmt: skip
    benchlib.print_rows(rows(best), as_json=args.json)


if __name__ == "__main__":
    main()
