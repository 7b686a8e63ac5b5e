"""The best-accuracy runs (issue 18): per-epoch figures of a run folder, and test-time augmentation.

Reads a run folder that ``mnist-sgd train --recipe mnist-best`` (or ``fashion-best``)
wrote, prints its epochs, seconds and test accuracy per epoch (from ``metrics.jsonl``,
what the training printed), then the saved model's test accuracy twice: plain, and
with test-time augmentation (TTA): the average of the class probabilities for the
picture and for copies moved one pixel up, down, left and right (and, for datasets
whose classes survive a mirror, the mirrored picture). TTA looks at each test picture
five (or six) times; the labels are never used to choose anything, so it is an honest
figure, reported apart from the plain one.

    python benchmarks/bench_best.py RUN [--json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import torch
import torch.nn.functional as F

SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``(n, 28, 28)`` uint8 moved by ``(dy, dx)`` pixels; pixels moved in are 0."""
    padded = F.pad(images, (1, 1, 1, 1))
    h, w = images.shape[-2:]
    return padded[:, 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w].contiguous()


def tta_probabilities(run: Any, images: torch.Tensor, flip: bool) -> torch.Tensor:
    """``(n, k)``: class probabilities averaged over the shifted (and mirrored) copies."""
    views = [shifted(images, dy, dx) for dy, dx in SHIFTS]
    if flip:
        views.append(images.flip(-1))
    probs = [torch.cat([run.probabilities(v) for v in view.split(2000)]) for view in views]
    return torch.stack(probs).mean(0)


def report(run_dir: Path) -> dict[str, Any]:
    """Per-epoch figures and the plain and TTA test accuracies of the run in ``run_dir``."""
    from mnist_sgd.callbacks.augment import mirror_safe
    from mnist_sgd.runs import load_run

    run = load_run(run_dir)
    dataset = run.info["train"]["dataset"]
    data = benchlib.load(dataset)
    plain = run.evaluate(data.valid_images, data.valid_labels)["accuracy"]
    tta = tta_probabilities(run, data.valid_images, mirror_safe(dataset))
    tta_acc = float((tta.argmax(1) == data.valid_labels).float().mean())
    return {
        "run": str(run_dir),
        "dataset": dataset,
        "epochs": len(run.history),
        "seconds": [round(r["seconds"], 1) for r in run.history],
        "total_seconds": round(sum(r["seconds"] for r in run.history), 1),
        "accuracy_by_epoch": [round(r["accuracy"], 4) for r in run.history],
        "test_accuracy": plain,
        "tta_accuracy": tta_acc,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for run_dir in args.runs:
        result = report(run_dir)
        benchlib.print_facts(result, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
