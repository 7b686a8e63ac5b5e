"""``mnist-sgd evaluate RUN``: loss, accuracy, per-class accuracy and confusion matrix."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from mnist_sgd.cli.common import add_data_options, add_json_flag, add_run_dir, data_options
from mnist_sgd.config.registry import DEVICE_NAMES

if TYPE_CHECKING:
    from mnist_sgd.datasets import MnistData
    from mnist_sgd.runs import Run


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a trained run on a dataset's validation/test split",
        description="Score a run folder's model on its dataset's validation (or test) split.",
        epilog="example: mnist-sgd evaluate runs/mnist_sample-linear-20261129-101500",
    )
    add_run_dir(p)
    p.add_argument(
        "--dataset",
        metavar="NAME|PATH",
        help="evaluate on another dataset with the same classes: a name, or a path (a folder "
        "of class folders, a Kaggle CSV, IDX files)",
    )
    p.add_argument("--device", default="cpu", choices=DEVICE_NAMES, help="where to run")
    add_json_flag(p, "the results")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mnist_sgd.cli.train import recorded_split
    from mnist_sgd.config.build import resolve_device
    from mnist_sgd.datasets import load_dataset
    from mnist_sgd.runs import load_run

    run_ = load_run(args.run_dir, resolve_device(args.device))
    name = args.dataset or run_.info["dataset"]
    options = data_options(args)
    if args.dataset is None and args.valid_pct is None:  # the run's own split of its set
        options = recorded_split(args.run_dir, options)
    data = load_dataset(name, options)
    if list(data.classes) != run_.classes:
        raise ValueError(
            f"{name} has classes {list(data.classes)}, but the run was trained on "
            f"{run_.classes}; evaluate on a set with the run's classes"
        )
    summary = score(run_, data, {"run": str(args.run_dir), "dataset": name})
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, run_.classes)
    return 0


def score(run: Run, data: MnistData, facts: dict[str, Any]) -> dict[str, Any]:
    """``facts`` plus the run's scores on ``data``'s validation split, JSON-ready."""
    result = run.evaluate(data.valid_images, data.valid_labels)
    return {
        **facts,
        "items": len(data.valid_labels),
        "loss": result["loss"],
        "accuracy": result["accuracy"],
        "per_class": dict(zip(run.classes, result["per_class"], strict=True)),
        "confusion": result["confusion"].tolist(),
    }


def print_summary(summary: dict[str, Any], classes: list[str]) -> None:
    print(
        f"{summary['dataset']}: {summary['items']} items, loss {summary['loss']:.4f}, "
        f"accuracy {summary['accuracy']:.4f}"
    )
    width = max(6, *(len(c) for c in classes))
    print("\nper class: " + "  ".join(f"{c}={a:.4f}" for c, a in summary["per_class"].items()))
    print("\nconfusion (rows = true, columns = predicted):")
    print(" " * width + "".join(f"{c:>{width + 1}}" for c in classes))
    for name, row in zip(classes, summary["confusion"], strict=True):
        print(f"{name:>{width}}" + "".join(f"{v:>{width + 1}}" for v in row))
