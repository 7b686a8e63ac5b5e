"""Shared by the web tests: one small, good model trained on real MNIST, and digit pictures.

``trained_run`` trains once per test process (both web test modules ask for it):
the chapter's linear model on all ten digits, 2 epochs of SGD (about 91% valid
accuracy), saved as ``mnist-sgd train`` saves a run folder.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

SHARED_DATA = Path(
    os.environ.get(
        "MNIST_SGD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
CANVAS = 280  # the page's canvas, in its own pixels
LINE_WIDTH = 20  # the page's pen (app.js LINE_WIDTH)
INK = 128  # MNIST pixels at least this bright are traced as strokes


@functools.cache
def mnist(shared_data: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    """Real MNIST (train 60,000, valid = the 10,000 test digits) through ``load_dataset``."""
    from mnist_sgd.datasets import DataOptions, load_dataset

    return load_dataset(
        "mnist", DataOptions(mirror=str(shared_data), cache_dir=cache_dir, offline=True)
    )


@functools.cache
def trained_run(out: Path, shared_data: Path, cache_dir: Path) -> Path:
    """Train the linear model on MNIST into ``out`` (once per process) and return ``out``."""
    from mnist_sgd.cli.train import write_curves
    from mnist_sgd.config.build import TrainConfig
    from mnist_sgd.runs import RunTrainer

    data = mnist(shared_data, cache_dir)
    config = TrainConfig(
        dataset="mnist",
        model="linear",
        loss="cross_entropy",
        lr=0.5,
        epochs=2,
        model_kwargs={"std": 0.01},
    )
    history = RunTrainer(out, config, data).fit()
    write_curves(out, history)
    return out


def png_bytes(image: Image.Image | np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode a PIL image or an ``(h, w)`` uint8 array."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image, mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def ink_runs(digit: torch.Tensor) -> list[tuple[int, int, int]]:
    """Horizontal runs of ink in a ``(28, 28)`` uint8 digit: ``(row, first col, last col)``."""
    ink = (digit >= INK).numpy()
    runs: list[tuple[int, int, int]] = []
    for row in range(ink.shape[0]):
        cols = np.flatnonzero(ink[row])
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        starts = [cols[0], *cols[breaks + 1]]
        ends = [*cols[breaks], cols[-1]]
        runs.extend((row, int(a), int(b)) for a, b in zip(starts, ends, strict=True))
    return runs


def strokes(digit: torch.Tensor, size: int = CANVAS) -> list[tuple[tuple[float, float], ...]]:
    """The digit's ink as pen strokes on a ``size`` canvas: one per run, ``((x, y), ...)``."""
    scale = size / 28
    return [
        ((scale * (a + 0.5), scale * (row + 0.5)), (scale * (b + 0.5), scale * (row + 0.5)))
        for row, a, b in ink_runs(digit)
    ]


def draw_like_the_page(digit: torch.Tensor) -> Image.Image:
    """What the page's canvas holds after tracing ``digit``: white round-capped strokes on black."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(image)
    radius = LINE_WIDTH / 2
    for (x0, y0), (x1, y1) in strokes(digit):
        pen.line([(x0, y0), (x1, y1)], fill=255, width=LINE_WIDTH)
        for x, y in ((x0, y0), (x1, y1)):
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    return image


def photo_like(digit: torch.Tensor) -> bytes:
    """The digit as a phone snapshot would have it: dark ink on light paper, larger, JPEG."""
    ink = 255 - digit.numpy()  # dark on white
    page = Image.fromarray(ink, mode="L").resize((168, 168), Image.Resampling.BICUBIC)
    paper = Image.new("RGB", (240, 300), (236, 232, 224))
    paper.paste(
        Image.merge("RGB", [page] * 3),
        (40, 70),
        mask=Image.fromarray((np.asarray(page) < 200).astype(np.uint8) * 255, mode="L"),
    )
    return png_bytes(paper, "JPEG")
