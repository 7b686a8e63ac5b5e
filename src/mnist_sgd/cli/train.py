"""``mnist-sgd train``: the seed's system by default; every flag is one ``TrainConfig`` field."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sgd.cli.common import add_data_options, data_options, number, positive_int, whole_number
from mnist_sgd.config.recipes import recipe_names
from mnist_sgd.config.registry import DEVICE_NAMES, LOSSES, MODELS, OPTIMISERS, SCHEDULES
from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.datasets.registry import DATASETS, is_dataset_path
from mnist_sgd.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from mnist_sgd.callbacks.speed import Speed
    from mnist_sgd.datasets import DataOptions, MnistData
    from mnist_sgd.runs import Checkpoint, RunTrainer

EXAMPLES = """examples:
  mnist-sgd train                        # the seed: MNIST_SAMPLE, linear model, SGD lr 1.0
  mnist-sgd train --model simple_net --lr 0.1 --epochs 40
  mnist-sgd train --dataset mnist --loss cross_entropy --model linear --lr 0.1
  mnist-sgd train --dry-run --out /tmp/smoke       # one batch of each split
  mnist-sgd train --resume runs/mnist_sample-linear-20261129-101500
"""
# flag -> (the names it takes, help); the default shown is the seed's (TrainConfig()).
# Every flag is the TrainConfig field of its name: TrainConfig checks the values.
CHOICE_FLAGS = {
    "dataset": (
        (*DATASETS, "PATH"),
        "dataset: a name, or a path to your own (a folder of class folders, a Kaggle CSV, "
        "a folder of IDX files)",
    ),
    "model": (tuple(MODELS), "model"),
    "loss": (tuple(LOSSES), "loss (mnist_loss and bce: two classes, one output)"),
    "opt": (tuple(OPTIMISERS), "optimiser (basic: the book's BasicOptim, plain steps)"),
    "schedule": (tuple(SCHEDULES), "how lr moves during the fit"),
}
NUMBER_FLAGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "lr": (number, "learning rate"),
    "bs": (whole_number, "batch size"),
    "epochs": (whole_number, "epochs"),
    "seed": (int, "random seed (weights, shuffling)"),
    "mom": (float, "momentum (sgd; adam's first beta when > 0; not with --opt basic)"),
    "wd": (float, "weight decay (sgd, adam; not with --opt basic)"),
}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model and save a run folder",
        epilog=EXAMPLES,
        description="Train a digit classifier. With no options: the seed's system.\n"
        "Each default below is the seed's; a --recipe sets its own, and a flag given wins.",
    )
    add_config_options(p, TrainConfig())
    add_run_options(p)
    add_data_options(p)
    p.set_defaults(run=run)


def add_config_options(p: argparse.ArgumentParser, seed: TrainConfig) -> None:
    names = recipe_names()
    p.add_argument(
        "--recipe",
        choices=names,
        metavar="NAME",
        help=f"a named set of options: {', '.join(names)} (see 'mnist-sgd recipes')",
    )
    for flag, (choices, text) in CHOICE_FLAGS.items():
        p.add_argument(
            f"--{flag}", metavar=braces(choices), help=f"{text} (default: {getattr(seed, flag)})"
        )
    for flag, (kind, text) in NUMBER_FLAGS.items():
        p.add_argument(f"--{flag}", type=kind, help=f"{text} (default: {getattr(seed, flag)})")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="move training images at random: digits by small shifts, turns and zooms, "
        "clothes by whole-pixel shifts and mirrors "
        f"(default: {'on' if seed.augment else 'off'})",
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        help="bf16 autocast for the training forward pass: --bf16 always, --no-bf16 never; "
        "neither: where a recipe asks for it and a probe of a few steps finds it faster on "
        "this CPU (measured once per machine and model, kept in the cache folder; "
        "OMP_NUM_THREADS set: that many threads, else the probe picks them too)",
    )


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICE_NAMES, help="where to train")
    p.add_argument("--out", type=folder, help="run folder (default: runs/DATASET-MODEL-TIME)")
    p.add_argument(
        "--resume",
        type=folder,
        metavar="RUN",
        help="continue an interrupted run (with --epochs N: train it on to N epochs)",
    )
    p.add_argument(
        "--init-from",
        type=folder,
        metavar="RUN",
        help="fine-tune: start from RUN's trained weights (the same --model; a new last layer "
        "when the classes differ)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="one batch of each split, for smoke tests"
    )
    p.add_argument(
        "--nproc",
        type=positive_int,
        metavar="N",
        help="N local data-parallel workers; --bs stays the global batch "
        "(a worker waits MNIST_SGD_DIST_TIMEOUT s, default 120, for the others)",
    )
    p.add_argument("--port", type=positive_int, help="--nproc's rendezvous port")
    p.add_argument("--quiet", action="store_true", help="print only where the run was saved")
    p.add_argument("--json", action="store_true", help="one JSON object per epoch on stdout")
    p.add_argument("--no-plots", action="store_true", help="skip writing the loss/accuracy curves")


def folder(text: str) -> Path:
    """argparse type: a non-empty folder path (``''`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text)


def braces(choices: Sequence[str]) -> str:
    """``{a,b,c}``: the names a flag takes, as its help shows them."""
    return "{" + ",".join(choices) + "}"


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A ``TrainConfig``: the recipe's options, overridden by the flags given (a bad one named)."""
    from mnist_sgd.config.recipes import get_recipe

    base = TrainConfig() if args.recipe is None else get_recipe(args.recipe)
    given = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    if "dataset" in given and is_dataset_path(given["dataset"]):  # run.json holds where it is
        given["dataset"] = str(Path(given["dataset"]).expanduser().resolve())
    try:
        return replace(base, **given)
    except ConfigError as error:
        if not hasattr(args, error.field):  # a field this command has no flag for
            raise
        raise ConfigError(error.field, f"argument --{error.field}: {error}") from None


def run(args: argparse.Namespace) -> int:
    """Train (or resume), save the run folder, say where it is.

    The folder's writer lock is taken before anything else, so a second
    ``train`` into the same folder is refused before it loads data or writes.
    """
    from mnist_sgd import runs
    from mnist_sgd.cli.workers import launch, world_from_env
    from mnist_sgd.config.build import resolve_device

    resuming = args.resume is not None
    if args.init_from is not None and (resuming or args.nproc is not None):
        raise ConfigError("init_from", "argument --init-from: not with --resume or --nproc")
    config: Any = None if resuming else config_from_args(args)
    device = resolve_device(args.device)
    run_dir = args.resume if resuming else args.out or runs.default_run_dir(config)
    if args.nproc is not None:  # check the folder, then run this command in N workers
        if resuming:
            runs.resume_point(run_dir, epochs=args.epochs)
        else:
            runs.check_new(run_dir)
        return launch(
            args.nproc, port=args.port, run_dir=run_dir, new=not resuming, argv=sys.argv[1:]
        )
    world = world_from_env()
    writer = world is None or world.writer
    with runs.writing(run_dir, create=not resuming, writer=writer):
        if resuming:
            config, checkpoint = runs.resume_point(run_dir, epochs=args.epochs)
            if runs.is_complete(run_dir, config, checkpoint):
                if writer:
                    print(runs.verify_complete(run_dir, checkpoint))
                return 0
        else:
            runs.check_new(run_dir)
            checkpoint = None
        if args.dry_run:
            config = replace(config, epochs=1, bs=min(config.bs, 64))
        data = load_data(config.dataset, args, run_dir if resuming else None)
        return train_into(run_dir, config, data, device, args, checkpoint)


def load_data(name: str, args: argparse.Namespace, resumed: Path | None = None) -> MnistData:
    """The dataset; a resumed run's own set is split again as its ``run.json`` records."""
    from mnist_sgd.datasets import load_dataset

    options = data_options(args, progress=not args.quiet)
    if resumed is not None and args.valid_pct is None:
        options = recorded_split(resumed, options)
    data = load_dataset(name, options)
    return data.spread(64) if args.dry_run else data


def recorded_split(run_dir: Path, options: DataOptions) -> DataOptions:
    """``options`` with the ``valid_pct`` and ``split_seed`` a run's ``run.json`` records."""
    from mnist_sgd.runs.info import read_run_info

    recorded = read_run_info(run_dir).get("data") or {}
    if recorded.get("valid_pct") is None:
        return options
    return replace(options, valid_pct=recorded["valid_pct"], split_seed=recorded["split_seed"])


def train_into(
    run_dir: Path,
    config: TrainConfig,
    data: MnistData,
    device: torch.device,
    args: argparse.Namespace,
    checkpoint: Checkpoint | None,
) -> int:
    """Fit with progress, then the curves; 130 when a signal stopped it (checkpoint saved)."""
    from mnist_sgd.cli.progress import ProgressPrinter
    from mnist_sgd.cli.workers import trainer as make_trainer
    from mnist_sgd.cli.workers import world_from_env

    printer = ProgressPrinter(quiet=args.quiet, as_json=args.json)
    world = world_from_env()
    if data.source and not args.quiet and (world is None or world.writer):
        print(data.sizes_line(), file=sys.stderr)  # a user's set: what was read, how it was split
    speed = choose_speed(config, data, device, args, world)
    trainer = make_trainer(run_dir, config, data, device, [printer], checkpoint, speed)
    if args.init_from is not None and (note := trainer.start_from(args.init_from)):
        print(note, file=sys.stderr)
    if not trainer.writer:
        args.quiet = True  # rank 0 speaks for all workers
    say_resuming(args, run_dir, config, checkpoint)
    history = fit_until_signal(trainer)
    if not trainer.writer:
        return 130 if trainer.stopped else 0
    if trainer.stopped:
        resume = f"mnist-sgd train --resume {run_dir}"
        print(f"interrupted: checkpoint saved; resume with: {resume}", file=sys.stderr)
        return 130
    for warning in [] if args.dry_run else trainer.warnings:  # e.g. no better than chance
        print(warning, file=sys.stderr)  # (one batch says nothing of how training goes)
    if not args.no_plots:
        write_curves(run_dir, history)
    if not args.json:
        print(f"saved run to {run_dir}")
    return 0


def fit_until_signal(trainer: RunTrainer) -> list[dict[str, float]]:
    """``trainer.fit()``; SIGINT/SIGTERM ask it to stop after the batch (it saves a checkpoint)."""
    previous = {
        sig: signal.signal(sig, lambda *_: trainer.request_stop())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return trainer.fit()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def choose_speed(
    config: TrainConfig,
    data: MnistData,
    device: torch.device,
    args: argparse.Namespace,
    world: Any,
) -> Speed:
    """bf16 or not and the thread count (``config.build.choose_speed``: ``--bf16``/``--no-bf16``
    and ``OMP_NUM_THREADS`` win), applied, and said in one line on stderr. A data-parallel
    worker (``world``: ``workers.world_from_env()``, None outside torchrun) does not probe (the
    workers would time each other): the cached answer or float32."""
    import torch

    from mnist_sgd.config import build

    speed = build.choose_speed(
        config,
        data,
        device,
        bf16=args.bf16,
        threads=user_threads(),
        cache_dir=args.cache_dir,
        may_probe=world is None,
    )
    torch.set_num_threads(speed.threads)
    if not args.quiet and (world is None or world.writer):
        print(speed.line(), file=sys.stderr)
    return speed


def user_threads() -> int | None:
    """The thread count the user chose (``OMP_NUM_THREADS``, read by torch at start), else None:
    a count that is never probed."""
    import torch

    return torch.get_num_threads() if "OMP_NUM_THREADS" in os.environ else None


def say_resuming(
    args: argparse.Namespace, run_dir: Path, config: TrainConfig, checkpoint: Checkpoint | None
) -> None:
    """Where a resumed run goes on from, and what another worker count means (fresh: nothing)."""
    from mnist_sgd.cli.workers import resume_note

    if args.quiet or args.json:
        return
    if args.resume is not None and (note := resume_note(run_dir, config)):
        print(note, file=sys.stderr)
    if checkpoint is not None:
        at = f"epoch {checkpoint[1]['epoch'] + 1}, batch {checkpoint[1]['iter'] + 1}"
        print(f"resuming {run_dir} at {at}", file=sys.stderr)
    elif args.resume is not None:
        print(f"{run_dir} holds no checkpoint yet: training it again from epoch 1", file=sys.stderr)


def write_curves(run_dir: Path, history: list[dict[str, float]]) -> None:
    """``plots/history.png``; a curve that cannot be drawn (a full disk) is said on stderr.

    Importing matplotlib and drawing took about 1 s after a 1 s training of the seed's model
    (benchmarks/RESULTS.md, "Start-up"). At a terminal a detached grandchild draws them, so
    the prompt comes back sooner and a failure still reaches the terminal; otherwise (a script,
    a pipe) they are drawn before exiting, so the warning is never lost.
    """
    from mnist_sgd.runs.curves import draw_curves

    if not hasattr(os, "fork") or not os.isatty(2):
        if (warning := draw_curves(run_dir, history)) is not None:
            print(warning, file=sys.stderr)
        return
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the child only forks again and exits: no zombie is left
        return
    try:
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                os.dup2(devnull, fd)
            if (warning := draw_curves(run_dir, history)) is not None:
                print(f"mnist-sgd: {warning}", file=sys.stderr, flush=True)
    finally:
        os._exit(0)
