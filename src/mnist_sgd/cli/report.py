"""``mnist-sgd report RUN``: the run's plots as PNGs and one self-contained HTML page."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mnist_sgd.cli.common import add_data_options, add_run_dir, data_options
from mnist_sgd.i18n import LANGS, pick_lang


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a run's plots and an HTML report",
        description="Draw curves, weights (linear models), confusion matrix, worst mistakes and "
        "samples into RUN/plots/, and RUN/report.html with every image embedded.",
        epilog="example: mnist-sgd report runs/mnist_sample-linear-20261129-101500 --lang ko",
    )
    add_run_dir(p)
    p.add_argument(
        "--lang",
        choices=LANGS,
        default=default_lang(),
        help="the language of the page and its plots: en (English) or ko (한국어); the default "
        "is ko when LC_ALL, LC_MESSAGES or LANG starts with ko, else en",
    )
    add_data_options(p)
    p.set_defaults(run=run)


def default_lang() -> str:
    """``ko`` when the locale (LC_ALL, then LC_MESSAGES, then LANG, as gettext reads them) is
    Korean, else ``en``."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return pick_lang(os.environ[name])
    return "en"


def run(args: argparse.Namespace) -> int:
    from mnist_sgd.datasets import load_dataset
    from mnist_sgd.runs import load_run
    from mnist_sgd.runs.report import write_report

    run_ = load_run(args.run_dir)
    data = load_dataset(run_.info["dataset"], data_options(args))
    path = write_report(run_, data, lang=args.lang)
    folder = run_.path / "plots"
    print(f"wrote {path} and {len(list(folder.glob('*.png')))} plots in {folder}")
    return 0
