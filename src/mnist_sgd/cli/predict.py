"""``mnist-sgd predict RUN IMAGE...``: a label and its probability for each image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_json_flag, add_run_dir


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in image files",
        description="Predict each image's class. Photos and drawings are preprocessed the way "
        "MNIST was made (grayscale, light ink on dark, cropped, fitted in 20x20, centred by "
        "centre of mass) unless --raw.",
        epilog="example: mnist-sgd predict runs/mnist-cnn-20261129-101500 my_digit.jpg",
    )
    add_run_dir(p)
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="PNG, JPEG, ... files")
    p.add_argument(
        "--raw", action="store_true", help="skip MNIST-style preprocessing (just 28x28 grayscale)"
    )
    p.add_argument(
        "--show", type=Path, metavar="DIR", help="save the 28x28 image the model saw, into DIR"
    )
    p.add_argument("--top", type=int, default=1, help="how many classes to list per image")
    add_json_flag(p, "one object per image")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the run, prepare each image, predict the good ones; 1 if any image failed."""
    import torch

    from mnist_sgd.runs import load_run

    run_ = load_run(args.run_dir)
    paths, images = prepare_all(args)
    if not images:
        return 1
    batch = torch.stack(images)
    probs = run_.probabilities(batch)
    if args.show is not None:
        save_seen(args.show, paths, batch, probs, run_.classes)
    for path, p in zip(paths, probs, strict=True):
        print_prediction(path, p, run_.classes, args)
    if len(run_.classes) == 2 and not args.json:
        a, b = run_.classes
        sys.stdout.flush()  # after the predictions, also in a log that holds both streams
        print(
            f"note: this model knows only two classes, {a} and {b}: "
            f"it calls every image one of them, whatever it shows",
            file=sys.stderr,
        )
    return 0 if len(paths) == len(args.images) else 1


def prepare_all(args: argparse.Namespace) -> tuple[list[Path], list[Any]]:
    """The images that could be read, with their paths; each one that could not: one line."""
    from mnist_sgd.cli import report_error
    from mnist_sgd.errors import MnistSgdError
    from mnist_sgd.predict.preprocess import prepare_image

    paths, images = [], []
    for path in args.images:
        try:
            images.append(prepare_image(path, raw=args.raw))
        except (MnistSgdError, ValueError, OSError) as error:
            report_error(error, debug=args.debug)
        else:
            paths.append(path)
    return paths, images


def print_prediction(path: Path, p: Any, classes: list[str], args: argparse.Namespace) -> None:
    top = p.topk(min(max(args.top, 1), len(p)))
    labels = [classes[i] for i in top.indices.tolist()]
    if args.json:
        record = {
            "image": str(path),
            "label": labels[0],
            "probability": float(top.values[0]),
            "probabilities": dict(zip(classes, p.tolist(), strict=True)),
        }
        print(json.dumps(record))
    else:
        ranked = ", ".join(
            f"{c} ({v:.3f})" for c, v in zip(labels, top.values.tolist(), strict=True)
        )
        print(f"{path}: {ranked}")


def save_seen(folder: Path, paths: list[Path], images: Any, probs: Any, classes: list[str]) -> None:
    """Write each 28x28 input as ``<name>.seen-<label>.png`` in ``folder``."""
    from mnist_sgd.files import atomic_write_bytes
    from mnist_sgd.predict.image_files import png_bytes

    for path, image, p in zip(paths, images, probs, strict=True):
        label = classes[int(p.argmax())]
        atomic_write_bytes(folder / f"{path.stem}.seen-{label}.png", png_bytes(image))
