"""``mnist-sgd report RUN``: the run's plots as PNGs and one self-contained HTML page."""

from __future__ import annotations

import argparse
from typing import Any

from mnist_sgd.cli.common import add_data_options, add_run_dir, data_options


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a run's plots and an HTML report",
        description="Draw curves, weights (linear models), confusion matrix, worst mistakes and "
        "samples into RUN/plots/, and RUN/report.html with every image embedded.",
        epilog="example: mnist-sgd report runs/mnist_sample-linear-20261129-101500",
    )
    add_run_dir(p)
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mnist_sgd.datasets import load_dataset
    from mnist_sgd.runs import load_run
    from mnist_sgd.runs.report import write_report

    run_ = load_run(args.run_dir)
    data = load_dataset(run_.info["dataset"], data_options(args))
    path = write_report(run_, data)
    folder = run_.path / "plots"
    print(f"wrote {path} and {len(list(folder.glob('*.png')))} plots in {folder}")
    return 0
