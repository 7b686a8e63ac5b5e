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
        epilog="examples:\n"
        "  mnist-sgd predict runs/mnist-cnn-20261129-101500 my_digit.jpg\n"
        "  mnist-sgd predict runs/mnist-cnn-20261129-101500 test.csv --csv submission.csv"
        "   # Kaggle\n"
        "  mnist-sgd predict runs/mnist-cnn-20261129-101500 my_digits/ --csv labels.csv",
    )
    add_run_dir(p)
    p.add_argument(
        "images",
        type=Path,
        nargs="+",
        metavar="IMAGE",
        help="PNG, JPEG, ... files, folders of them, or one Kaggle-layout CSV (test.csv)",
    )
    p.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write the predictions to FILE: Kaggle's ImageId,Label for a CSV given, "
        "file,label,probability for images",
    )
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

    from mnist_sgd.predict.predictor import classes_note
    from mnist_sgd.runs import load_run

    run_ = load_run(args.run_dir)
    if any(path.suffix.lower() == ".csv" for path in args.images):
        return predict_csv(run_, args)
    args.images = expand_folders(args.images)
    paths, images = prepare_all(args)
    if not images:
        return 1
    batch = torch.stack(images)
    probs = run_.probabilities(batch)
    if args.csv is not None:
        rows = [
            f"{path},{run_.classes[int(p.argmax())]},{float(p.max()):.6f}"
            for path, p in zip(paths, probs, strict=True)
        ]
        write_csv(args.csv, "file,label,probability", rows)
    if args.show is not None:
        save_seen(args.show, paths, batch, probs, run_.classes)
    for path, p in zip(paths, probs, strict=True):
        print_prediction(path, p, run_.classes, args)
    note = classes_note(run_.classes)
    if note is not None and not args.json:
        sys.stdout.flush()  # after the predictions, also in a log that holds both streams
        print(f"note: {note}", file=sys.stderr)
    return 0 if len(paths) == len(args.images) else 1


def predict_csv(run: Any, args: argparse.Namespace) -> int:
    """Kaggle's round trip: ``test.csv`` in, ``ImageId,Label`` out (``--csv``) or printed."""
    import torch

    from mnist_sgd.datasets.kaggle_csv import read_kaggle_csv

    if len(args.images) != 1:
        raise ValueError("give one CSV alone (not mixed with images or other CSVs)")
    images, _ = read_kaggle_csv(args.images[0])
    probs = torch.cat([run.probabilities(chunk) for chunk in images.split(4096)])
    labels = [run.classes[i] for i in probs.argmax(dim=1).tolist()]
    rows = [f"{i},{label}" for i, label in enumerate(labels, start=1)]
    if args.csv is None:
        print("ImageId,Label", *rows, sep="\n")
        return 0
    write_csv(args.csv, "ImageId,Label", rows)
    print(f"wrote {len(rows)} predictions to {args.csv}")
    return 0


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    """``header`` and ``rows`` as one file, written atomically (never half a file)."""
    from mnist_sgd.files import atomic_write_text

    atomic_write_text(path, "\n".join([header, *rows]) + "\n")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def expand_folders(paths: list[Path]) -> list[Path]:
    """Each folder replaced by the image files under it (by suffix, hidden ones skipped), sorted."""
    from mnist_sgd.errors import ImageError

    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise ImageError(
                f"{path} is a folder with no image files ({', '.join(IMAGE_SUFFIXES)})"
            )
        expanded += files
    return expanded


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
