"""``mnist-sgd lr-find``: try growing learning rates for a few hundred batches; suggest one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_data_options, data_options, positive_float, positive_int

EXAMPLES = """examples:
  mnist-sgd lr-find --dataset mnist --loss cross_entropy --model cnn --opt adam
  mnist-sgd lr-find --recipe mnist-fast --plot lr.png
  mnist-sgd train --recipe mnist-fast --lr 0.004     # then train with what it suggested
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the examples' line breaks."""


def add_parser(subparsers: Any) -> None:
    """Register ``lr-find`` and its flags (the model/data flags are ``train``'s)."""
    p = subparsers.add_parser(
        "lr-find",
        help="suggest a learning rate (loss against a growing lr)",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        description="Train briefly with an exponentially growing lr, print the suggested lr, "
        "and plot loss against lr. The model is thrown away afterwards.",
    )
    p.add_argument(
        "--recipe", default=None, help="a named set of options (see 'mnist-sgd recipes')"
    )
    for flag in ("dataset", "model", "loss", "opt"):
        p.add_argument(f"--{flag}", default=None, help=f"as for 'mnist-sgd train --{flag}'")
    p.add_argument("--bs", type=positive_int, default=None, help="batch size")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--mom", type=float, default=None, help="SGD momentum (Adam's first beta)")
    p.add_argument("--wd", type=float, default=None, help="weight decay")
    p.add_argument("--start-lr", type=positive_float, default=1e-7, help="first lr tried")
    p.add_argument("--end-lr", type=positive_float, default=10.0, help="last lr tried")
    p.add_argument("--num-it", type=positive_int, default=100, help="mini-batches to try")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--plot", type=Path, default=Path("lr_find.png"), help="where to save the plot")
    p.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    p.add_argument("--json", action="store_true", help="print lrs, losses and suggestions as JSON")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the learner the flags describe, run the finder, print (and plot) the result."""
    from mnist_sgd.cli.train import config_from_args
    from mnist_sgd.datasets import load_dataset
    from mnist_sgd.lr_find import lr_find
    from mnist_sgd.training import build_learner, resolve_device

    config = config_from_args(args)
    data = load_dataset(config.dataset, data_options(args))
    learn = build_learner(config, data, resolve_device(args.device))
    result = lr_find(learn, start_lr=args.start_lr, end_lr=args.end_lr, num_it=args.num_it)
    plotted = None if args.no_plot else draw(result, args.plot)
    if args.json:
        fields = ("lrs", "losses", "valley", "steepest", "minimum")
        print(json.dumps({**{k: getattr(result, k) for k in fields}, "plot": plotted}))
        return 0
    print(f"suggested lr: {result.suggestion:.3g} (valley)")
    print(f"  steepest: {result.steepest:.3g}   minimum/10: {result.minimum:.3g}")
    if plotted:
        print(f"plot saved to {plotted}")
    return 0


def draw(result: Any, path: Path) -> str | None:
    """Save the loss-against-lr plot with ``mnist_sgd.plots.plot_lr_find``, if plotting is there."""
    try:
        from mnist_sgd.plots import plot_lr_find
    except ImportError:
        print("note: no plot (mnist_sgd.plots.plot_lr_find is not available)", file=sys.stderr)
        return None
    plot_lr_find(result.lrs, result.losses, path, result.suggestion)
    return str(path)
