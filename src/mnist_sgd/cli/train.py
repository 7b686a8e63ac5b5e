"""``mnist-sgd train``: the seed's system by default; every flag is one ``TrainConfig`` field."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_data_options, data_options, positive_float, positive_int
from mnist_sgd.errors import MnistSgdError

EXAMPLES = """examples:
  mnist-sgd train                        # the seed: MNIST_SAMPLE, linear model, SGD lr 1.0
  mnist-sgd train --model simple_net --lr 0.1 --epochs 40
  mnist-sgd train --dataset mnist --loss cross_entropy --model linear --lr 0.1
  mnist-sgd train --dry-run --out /tmp/smoke       # one batch of each split
  mnist-sgd train --resume runs/mnist_sample-linear-20261129-101500
  mnist-sgd train --nproc 2 --bs 256     # 2 worker processes, 128 items each per batch
  torchrun --nproc-per-node 2 -m mnist_sgd train   # the same through torchrun (or many machines)
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the examples' line breaks."""


def add_parser(subparsers: Any) -> None:
    """Register ``train`` and its flags."""
    from mnist_sgd.training import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train a model and save a run folder",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        description="Train a digit classifier. With no options: the seed's system.",
    )
    p.add_argument(
        "--recipe", default=None, help="a named set of options (see 'mnist-sgd recipes')"
    )
    p.add_argument("--dataset", default=None, help=f"dataset name (default {d.dataset})")
    p.add_argument("--model", default=None, help=f"model name (default {d.model})")
    p.add_argument(
        "--loss", default=None, help=f"loss: mnist_loss, bce, cross_entropy (default {d.loss})"
    )
    p.add_argument("--opt", default=None, help=f"optimiser name (default {d.opt})")
    p.add_argument(
        "--lr", type=positive_float, default=None, help=f"learning rate (default {d.lr})"
    )
    p.add_argument("--bs", type=positive_int, default=None, help=f"batch size (default {d.bs})")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"epochs (default {d.epochs})")
    p.add_argument("--seed", type=int, default=None, help=f"random seed (default {d.seed})")
    p.add_argument("--mom", type=float, default=None, help=f"SGD momentum (default {d.mom})")
    p.add_argument("--wd", type=float, default=None, help=f"weight decay (default {d.wd})")
    p.add_argument(
        "--schedule",
        default=None,
        help=f"learning-rate schedule: constant, one_cycle (default {d.schedule})",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"small random shifts/rotations of training images (default {d.augment})",
    )
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="where to train"
    )
    p.add_argument(
        "--out", type=folder, default=None, help="run folder (default runs/DATASET-MODEL-TIME)"
    )
    p.add_argument(
        "--resume",
        type=folder,
        default=None,
        metavar="RUN",
        help="continue an interrupted run (with --epochs N: train it on to N epochs)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="one batch of each split, for smoke tests"
    )
    p.add_argument(
        "--nproc",
        type=positive_int,
        default=None,
        metavar="N",
        help="N local data-parallel workers; --bs stays the global batch "
        "(a worker waits MNIST_SGD_DIST_TIMEOUT s, default 120, for the others)",
    )
    p.add_argument("--port", type=positive_int, default=None, help="--nproc's rendezvous port")
    p.add_argument("--quiet", action="store_true", help="print only where the run was saved")
    p.add_argument("--json", action="store_true", help="one JSON object per epoch on stdout")
    p.add_argument("--no-plots", action="store_true", help="skip writing the loss/accuracy curves")
    add_data_options(p)
    p.set_defaults(run=run)


def folder(text: str) -> Path:
    """argparse type: a non-empty folder path (``''`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text)


def config_from_args(args: argparse.Namespace) -> Any:
    """A ``TrainConfig``: the recipe's options (if any), overridden by the flags given."""
    from mnist_sgd.training import TrainConfig

    base = TrainConfig()
    if args.recipe is not None:
        from mnist_sgd.recipes import get_recipe

        base = get_recipe(args.recipe)
    given = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    return replace(base, **given)


def run(args: argparse.Namespace) -> int:
    """Train (or resume), save the run folder, say where it is.

    The folder's writer lock is taken before anything else, so a second
    ``train`` into the same folder is refused before it loads data or writes.
    """
    from mnist_sgd import runs
    from mnist_sgd.training import resolve_device

    device = resolve_device(args.device)
    resuming = args.resume is not None
    config: Any = None if resuming else config_from_args(args)
    run_dir = args.resume if resuming else args.out or runs.default_run_dir(config)
    if args.nproc is not None:
        return launch_workers(args, run_dir, resuming)
    with writer_lock(run_dir, create=not resuming):
        if resuming:
            config, checkpoint = runs.resume_point(run_dir, epochs=args.epochs)
            if runs.is_complete(run_dir, config, checkpoint):
                if is_writer():
                    print(runs.verify_complete(run_dir, checkpoint))
                return 0
        else:
            runs.check_new(run_dir)
            checkpoint = None
        if args.dry_run:
            config = replace(config, epochs=1, bs=min(config.bs, 64))
        data = load_data(config.dataset, args)
        return train_into(run_dir, config, data, device, args, checkpoint)


def launch_workers(args: argparse.Namespace, run_dir: Path, resuming: bool) -> int:
    """``--nproc N``: check the folder, then run this command in N workers (rank 0 writes)."""
    from mnist_sgd import runs
    from mnist_sgd.cli.workers import launch

    if resuming:
        runs.resume_point(run_dir, epochs=args.epochs)
    else:
        runs.check_new(run_dir)
    return launch(args.nproc, port=args.port, run_dir=run_dir, new=not resuming, argv=sys.argv[1:])


def is_writer() -> bool:
    """False in a torchrun worker of rank > 0 (only rank 0 writes the run folder)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def writer_lock(run_dir: Path, *, create: bool) -> contextlib.AbstractContextManager[None]:
    """The run folder's writer lock for rank 0 (or a plain run); nothing for other ranks."""
    from mnist_sgd import runs

    return runs.claim(run_dir, create=create) if is_writer() else contextlib.nullcontext()


def load_data(name: str, args: argparse.Namespace) -> Any:
    """Load the dataset (``--dry-run``: one batch of each split)."""
    from mnist_sgd.datasets import load_dataset

    data = load_dataset(name, data_options(args, progress=not args.quiet))
    return data.head(64) if args.dry_run else data


def train_into(
    run_dir: Path,
    config: Any,
    data: Any,
    device: Any,
    args: argparse.Namespace,
    checkpoint: Any,
) -> int:
    """Fit with progress; SIGINT/SIGTERM stop cleanly with a checkpoint."""
    from mnist_sgd.cli.progress import ProgressPrinter
    from mnist_sgd.cli.workers import resume_note
    from mnist_sgd.cli.workers import trainer as make_trainer

    printer = ProgressPrinter(quiet=args.quiet, as_json=args.json)
    trainer = make_trainer(run_dir, config, data, device, [printer], checkpoint)
    if not trainer.writer:
        args.quiet = True  # rank 0 speaks for all workers
    if checkpoint is not None:
        say(
            args,
            f"resuming {run_dir} at epoch {checkpoint[1]['epoch'] + 1}, "
            f"batch {checkpoint[1]['iter'] + 1}",
        )
    elif args.resume is not None:
        say(args, f"{run_dir} holds no checkpoint yet: training it again from epoch 1")
    if args.resume is not None and (note := resume_note(run_dir, config)):
        say(args, note)
    previous = {
        sig: signal.signal(sig, lambda *_: trainer.request_stop())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        history = trainer.fit()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not trainer.writer:
        return 130 if trainer.stopped else 0
    if trainer.stopped:
        print(
            f"interrupted: checkpoint saved; resume with: mnist-sgd train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    warn_if_chance(history, data.valid_labels, config.lr)
    if not args.no_plots:
        write_curves(run_dir, history)
    if not args.json:
        print(f"saved run to {run_dir}")
    return 0


def warn_if_chance(history: list[dict[str, float]], labels: Any, lr: float) -> None:
    """Say so when the model ends no better than always answering the commonest class."""
    import torch

    last = history[-1] if history else {}
    accuracy = next((v for k, v in last.items() if "accuracy" in k), None)
    if accuracy is None or len(labels) == 0:
        return
    commonest = float(torch.bincount(labels).max()) / len(labels)
    if accuracy <= commonest + 0.01:
        print(
            f"warning: validation accuracy {accuracy:.4f} is no better than always answering "
            f"the commonest class ({commonest:.4f}): training failed; lr {lr:g} may be too high, "
            "try 'mnist-sgd lr_find'",
            file=sys.stderr,
        )


def write_curves(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Loss and accuracy curves as ``plots/history.png`` (skipped if plotting is unavailable)."""
    try:
        from mnist_sgd.plots import plot_history
    except ImportError:
        return
    try:
        plot_history(history, run_dir / "plots" / "history.png")
    except MnistSgdError:
        raise
    except Exception as error:  # a plot must never cost the user the trained model
        print(f"warning: could not draw the curves: {error}", file=sys.stderr)


def say(args: argparse.Namespace, text: str) -> None:
    """A status line on stderr unless --quiet or --json."""
    if not (args.quiet or args.json):
        print(text, file=sys.stderr)
