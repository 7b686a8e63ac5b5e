"""``mnist-sgd predict RUN IMAGE...``: a label and its probability for each image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_json_flag


def add_parser(subparsers: Any) -> None:
    """Register ``predict``."""
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in image files",
        description="Predict each image's class. Photos and drawings are preprocessed the way "
        "MNIST was made (grayscale, light ink on dark, cropped, fitted in 20x20, centred by "
        "centre of mass) unless --raw.",
        epilog="example: mnist-sgd predict runs/mnist-cnn-20261129-101500 my_digit.jpg",
    )
    p.add_argument(
        "run_dir", type=Path, metavar="RUN", help="a run folder made by 'mnist-sgd train'"
    )
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="PNG, JPEG, ... files")
    p.add_argument(
        "--raw", action="store_true", help="skip MNIST-style preprocessing (just 28x28 grayscale)"
    )
    p.add_argument(
        "--show",
        type=Path,
        default=None,
        metavar="DIR",
        help="save the 28x28 image the model saw for each input into DIR",
    )
    p.add_argument("--top", type=int, default=1, help="how many classes to list per image")
    add_json_flag(p, "one object per image")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the run, prepare each image, predict, print."""
    import torch

    from mnist_sgd.preprocess import prepare_image
    from mnist_sgd.runs import load_run

    run_ = load_run(args.run_dir)
    images = torch.stack([prepare_image(path, raw=args.raw) for path in args.images])
    probs = run_.predict_proba(images)
    if args.show is not None:
        save_seen(args.show, args.images, images, probs, run_.classes)
    for path, p in zip(args.images, probs, strict=True):
        top = p.topk(min(max(args.top, 1), len(p)))
        labels = [run_.classes[i] for i in top.indices.tolist()]
        if args.json:
            print(
                json.dumps(
                    {
                        "image": str(path),
                        "label": labels[0],
                        "probability": float(top.values[0]),
                        "probabilities": dict(zip(run_.classes, p.tolist(), strict=True)),
                    }
                )
            )
        else:
            ranked = ", ".join(
                f"{c} ({v:.3f})" for c, v in zip(labels, top.values.tolist(), strict=True)
            )
            print(f"{path}: {ranked}")
    return 0


def save_seen(folder: Path, paths: list[Path], images: Any, probs: Any, classes: list[str]) -> None:
    """Write each 28x28 input as ``<name>.seen-<label>.png`` in ``folder``."""
    import io

    from PIL import Image

    from mnist_sgd.files import atomic_write_bytes

    for path, image, p in zip(paths, images, probs, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image.numpy(), mode="L").save(buffer, format="PNG")
        label = classes[int(p.argmax())]
        atomic_write_bytes(folder / f"{path.stem}.seen-{label}.png", buffer.getvalue())
