"""``mnist-sgd lr-find``: try growing learning rates for a few hundred batches; suggest one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sgd.cli.common import (
    add_data_options,
    data_options,
    positive_float,
    positive_int,
    whole_number,
)
from mnist_sgd.cli.train import CHOICE_FLAGS, braces
from mnist_sgd.config.recipes import recipe_names
from mnist_sgd.config.registry import DEVICE_NAMES
from mnist_sgd.core.callback import Callback

# mnist_sgd.callbacks.lr_find's START_LR, END_LR, NUM_IT (it imports torch; --help must not)
START_LR, END_LR, NUM_IT = 1e-7, 100.0, 200

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner

EXAMPLES = """examples:
  mnist-sgd lr-find                                   # the seed's model: about 1.0
  mnist-sgd lr-find --dataset mnist --loss cross_entropy --model cnn --opt adam
  mnist-sgd lr-find --recipe mnist-fast --plot lr.png
  mnist-sgd lr-find --run runs/my-run                 # the plot goes to runs/my-run/plots/
  mnist-sgd train --recipe mnist-fast --lr 0.004     # then train with what it suggested
"""


def add_parser(subparsers: Any) -> None:
    """Register ``lr-find`` and its flags (the model/data flags are ``train``'s)."""
    p = subparsers.add_parser(
        "lr-find",
        help="suggest a learning rate (loss against a growing lr)",
        epilog=EXAMPLES,
        description="Train briefly with an exponentially growing lr, print the suggested lr, "
        "and plot loss against lr (with --plot or --run). The model is thrown away afterwards.",
    )
    add_model_options(p)
    p.add_argument("--start-lr", type=positive_float, default=START_LR, help="first lr tried")
    p.add_argument("--end-lr", type=positive_float, default=END_LR, help="last lr tried")
    p.add_argument("--num-it", type=positive_int, default=NUM_IT, help="mini-batches to try")
    p.add_argument("--device", default="auto", choices=DEVICE_NAMES, help="where to train")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--plot", type=Path, help="save the plot (PNG) here")
    where.add_argument(
        "--run",
        dest="run_dir",
        type=Path,
        metavar="RUN",
        help="save the plot as RUN/plots/lr_find.png (where 'mnist-sgd report' finds it)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    p.add_argument("--json", action="store_true", help="print lrs, losses and suggestions as JSON")
    add_data_options(p)
    p.set_defaults(run=run)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """What is trained: a recipe and ``train``'s model and data flags (each overrides it)."""
    p.add_argument(
        "--recipe",
        choices=recipe_names(),
        help="a named set of options (see 'mnist-sgd recipes'); default: the seed's",
    )
    for flag in ("dataset", "model", "loss", "opt"):
        choices, text = CHOICE_FLAGS[flag]
        p.add_argument(f"--{flag}", metavar=braces(choices), help=f"{text}, as for train")
    p.add_argument("--bs", type=whole_number, help="batch size")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--mom", type=float, help="SGD momentum (Adam's first beta)")
    p.add_argument("--wd", type=float, help="weight decay")


def run(args: argparse.Namespace) -> int:
    import torch

    from mnist_sgd.callbacks.lr_find import lr_find
    from mnist_sgd.cli.train import config_from_args
    from mnist_sgd.config.build import build_learner, choose_speed, resolve_device
    from mnist_sgd.datasets import load_dataset

    config = config_from_args(args)
    target = None if args.no_plot else plot_path(args)  # a bad --run fails before any work
    data = load_dataset(config.dataset, data_options(args))
    device = resolve_device(args.device)
    here = [torch.get_num_threads()]  # bf16 as train decides it, in the same cache folder
    speed = choose_speed(config, data, device, thread_options=here, cache_dir=args.cache_dir)
    learn = build_learner(config, data, device, bf16=speed.bf16)
    bar = FinderBar(args.num_it)
    result = lr_find(learn, args.start_lr, args.end_lr, args.num_it, cbs=[bar])
    bar.close()
    title = f"lr finder: {config.model} on {config.dataset}"
    title += f" ({config.loss}, {config.opt}, bs {config.bs})"
    plotted = None
    if target is not None:
        from mnist_sgd.pictures.plots import plot_lr_find

        plotted = str(plot_lr_find(result.lrs, result.losses, target, result.suggestion, title))
    if args.json:
        fields = ("lrs", "losses", "valley", "steepest", "minimum")
        print(json.dumps({**{k: getattr(result, k) for k in fields}, "plot": plotted}))
        return 0
    print(f"suggested lr: {result.suggestion:.3g} (valley)")
    print(f"  steepest: {result.steepest:.3g}   minimum/10: {result.minimum:.3g}")
    print(f"plot saved to {plotted}" if plotted else "no plot saved (use --plot PNG or --run RUN)")
    return 0


def plot_path(args: argparse.Namespace) -> Path | None:
    """``--plot``, or ``RUN/plots/lr_find.png`` for ``--run``; None: no file (not the cwd)."""
    if args.run_dir is not None:
        if not Path(args.run_dir).is_dir():
            raise ValueError(f"{args.run_dir}: no such run folder; give an existing one to --run")
        return Path(args.run_dir) / "plots" / "lr_find.png"
    return args.plot


class FinderBar(Callback):
    """A tqdm bar over the finder's batches on stderr; nothing when stderr is not a terminal."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="lr finder", unit="batch", file=sys.stderr, disable=None)

    def after_batch(self, learn: Learner) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
