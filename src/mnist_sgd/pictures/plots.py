"""PNG pictures of a run: curves, the linear model's weights, confusion, mistakes, samples.

Beyond fastbook chapter 4's printed tables ("Putting it all together"): the
loss per epoch, what each class's weights look like as a 28x28 picture
("three-ness minus seven-ness" for the seed's linear model), where the model
goes wrong. matplotlib is imported only inside these functions and only
through its object API (``Figure`` on the Agg canvas): no pyplot, no global
backend switch, safe in a web server's threads. Every PNG is written
atomically through :func:`mnist_sgd.files.atomic_open`; each function
returns the path it wrote.

Every function takes ``lang`` (``"en"`` or ``"ko"``): its words come from that catalogue
(``mnist_sgd.i18n``), and its text is set in DejaVu Sans with NanumGothic (from the
``koreanize-matplotlib`` package, registered here, never imported: importing it changes
matplotlib's global settings) behind it for Hangul, or NanumGothic first in Korean. A Korean
title or class name draws as Hangul, not as empty boxes.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mnist_sgd.core.data import POSITIVE
from mnist_sgd.files import atomic_open
from mnist_sgd.i18n import korean_font, text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

PathLike = str | os.PathLike[str]
NOT_METRICS = frozenset({"epoch", "train_loss", "valid_loss", "seconds", "lr"})
DPI = 100
KOREAN = "NanumGothic"
LATIN = "DejaVu Sans"  # matplotlib's own default


def plot_history(history: Sequence[dict[str, float]], path: PathLike, *, lang: str = "en") -> Path:
    """Loss curves (train, valid) and metric curves (accuracy, ...) against the epoch.

    Args:
        history: one record per epoch, ``{"epoch": 1, "train_loss": .., "valid_loss": ..,
            "accuracy": .., "seconds": ..}``; every key but epoch, the losses,
            seconds and lr is a metric.
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    metrics = list(dict.fromkeys(key for r in history for key in r if key not in NOT_METRICS))
    fig = _figure(11 if metrics else 6, 4)
    axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)[0]
    _curves(axes[0], history, ["train_loss", "valid_loss"], text(lang, "plot.loss"), lang)
    if metrics:
        _curves(axes[1], history, metrics, text(lang, "plot.metrics"), lang)
    return _save(fig, path, lang)


def plot_weights(
    weight: torch.Tensor,
    classes: Sequence[str],
    path: PathLike,
    initial: torch.Tensor | None = None,
    change_title: str | None = None,
    *,
    lang: str = "en",
) -> Path:
    """Each class's weights as a 28x28 heat map, red > 0 > blue, white exactly 0.

    Args:
        weight: ``(784, k)`` or ``(k, 784)``; ``k == 1`` with two classes is the seed's
            binary model: one map, red towards ``classes[POSITIVE]`` (``core.data``), blue
            towards the other.
        initial: the weights before training (same shape): a second block shows
            ``weight - initial`` on its own 0-centred scale, what SGD learned.
        change_title: that block's title (say where ``initial`` came from); None: "change
            since initialisation".
    """
    maps = _weight_maps(weight)  # (k, 28, 28)
    binary = maps.shape[0] == 1 and len(classes) == 2
    if not binary and maps.shape[0] != len(classes):
        raise ValueError(f"weight has {maps.shape[0]} maps but {len(classes)} classes were given")
    change_title = change_title or text(lang, "plot.change")
    change = [] if initial is None else [(change_title, maps - _weight_maps(initial))]
    blocks = [(text(lang, "plot.weights"), maps), *change]
    red, blue = (
        (classes[POSITIVE], classes[1 - POSITIVE])
        if binary
        else (text(lang, "plot.for"), text(lang, "plot.against"))
    )
    titles = [text(lang, "plot.versus", red=red, blue=blue)] if binary else list(map(str, classes))
    fig, subfigures, columns = _weight_figure(len(titles), binary, len(blocks))
    side = text(lang, "plot.sides", red=red, blue=blue)
    for sub, (label, block) in zip(subfigures, blocks, strict=True):
        _weight_block(sub, block, titles, columns, f"{label} ({side})")
    return _save(fig, path, lang)


def _weight_figure(maps: int, binary: bool, blocks: int) -> tuple[Figure, list[SubFigure], int]:
    """A figure with one subfigure per block (side by side for the binary map), and columns."""
    columns = min(maps, 5)
    rows = math.ceil(maps / columns)
    width, height = (5.5, 4.6) if binary else (2.3 * columns + 1.4, 2.5 * rows + 0.6)
    across = blocks if binary else 1  # k classes: one block above the other
    fig = _figure(width * across, height * (blocks // across))
    return fig, list(fig.subfigures(blocks // across, across, squeeze=False).ravel()), columns


def _weight_block(
    fig: Figure | SubFigure, maps: torch.Tensor, titles: list[str], columns: int, label: str
) -> None:
    """One block of 28x28 maps on one symmetric colour scale (white is exactly 0)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    rows = math.ceil(len(titles) / columns)
    limit = float(maps.abs().max()) or 1.0
    norm = Normalize(-limit, limit)
    for index, axis in enumerate(fig.subplots(rows, columns, squeeze=False).ravel()):
        axis.set_axis_off()
        if index < len(titles):
            axis.imshow(maps[index].numpy(), cmap="bwr", norm=norm)
            axis.set_title(titles[index])
    fig.colorbar(ScalarMappable(norm, "bwr"), ax=fig.axes, shrink=0.8)
    fig.suptitle(label, fontsize=10)


def plot_confusion(
    matrix: torch.Tensor, classes: Sequence[str], path: PathLike, *, lang: str = "en"
) -> Path:
    """A confusion matrix with counts; row = true class, column = predicted class.

    The colour is each count's share of its row (the true class) on a square-root
    scale, so a few errors stand out next to a diagonal of thousands.

    Args:
        matrix: ``(k, k)`` int64 counts.
    """
    k = len(classes)
    if tuple(matrix.shape) != (k, k):
        raise ValueError(f"matrix must be ({k}, {k}) for {k} classes, got {tuple(matrix.shape)}")
    counts = matrix.detach().cpu().long()
    shares = counts.double() / counts.sum(dim=1, keepdim=True).clamp(min=1)
    side = 2.0 + 0.55 * k
    fig = _figure(side + 1.0, side)
    axis = fig.subplots()
    axis.imshow(shares.sqrt().numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), count in zip(_cells(k), counts.flatten().tolist(), strict=True):
        colour = "white" if shares[row, col] > 0.4 else "black"
        axis.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    words = {"xlabel": text(lang, "plot.predicted"), "ylabel": text(lang, "plot.true")}
    axis.set(xticks=range(k), yticks=range(k), **words)
    axis.set_xticklabels(classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    axis.set_yticklabels(classes)
    total = int(counts.sum())
    correct = int(counts.diagonal().sum())
    accuracy = f"{correct / max(total, 1):.2%}"
    wrong = total - correct
    axis.set_title(text(lang, "plot.confusion_title", accuracy=accuracy, wrong=wrong, total=total))
    return _save(fig, path, lang)


def plot_mistakes(
    images: torch.Tensor,
    targets: Sequence[int] | torch.Tensor,
    preds: Sequence[int] | torch.Tensor,
    confidences: Sequence[float] | torch.Tensor,
    classes: Sequence[str],
    path: PathLike,
    *,
    lang: str = "en",
) -> Path:
    """A grid of mistakes (the caller picks them, worst first) titled true / predicted / confidence.

    Args:
        images: ``(n, 28, 28) uint8``.
        targets, preds: ``n`` class indices; confidences: ``n`` probabilities of ``preds``.
    """
    labels = _as_list(targets)
    guesses = _as_list(preds)
    sure = [float(c) for c in _as_list(confidences)]
    if not len(images) == len(labels) == len(guesses) == len(sure):
        raise ValueError(
            f"need as many targets, preds and confidences as images ({len(images)}), got "
            f"{len(labels)}, {len(guesses)} and {len(sure)}"
        )
    titles = [
        text(
            lang, "plot.mistake", true=classes[int(t)], pred=classes[int(p)], confidence=f"{c:.0%}"
        )
        for t, p, c in zip(labels, guesses, sure, strict=True)
    ]
    return _grid(images, titles, path, empty=text(lang, "plot.no_mistakes"), lang=lang)


def plot_samples(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    classes: Sequence[str],
    path: PathLike,
    n: int = 36,
    *,
    lang: str = "en",
) -> Path:
    """The first ``n`` images of a dataset in a grid, each titled with its class.

    Args:
        images: ``(N, 28, 28) uint8``; labels: ``N`` class indices.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    count = min(n, len(images))
    titles = [str(classes[int(label)]) for label in _as_list(labels)[:count]]
    return _grid(images[:count], titles, path, empty=text(lang, "plot.no_samples"), lang=lang)


def plot_lr_find(
    lrs: Sequence[float],
    losses: Sequence[float],
    path: PathLike,
    suggestion: float | None = None,
    title: str | None = None,
    *,
    lang: str = "en",
) -> Path:
    """The lr finder's loss against lr (log scale), the suggested lr marked.

    The y axis stops at twice the first loss: the finder ends when the loss
    explodes, and that last jump would flatten the part worth reading.
    """
    if len(lrs) != len(losses) or not lrs:
        raise ValueError(f"need as many lrs as losses (> 0), got {len(lrs)} and {len(losses)}")
    points = [(lr, loss) for lr, loss in zip(lrs, losses, strict=True) if math.isfinite(loss)]
    if not points or min(lrs) <= 0:
        raise ValueError("lrs must be > 0 and at least one loss finite")
    fig = _figure(7, 4.5)
    axis = fig.subplots()
    axis.plot(*zip(*points, strict=True), color="tab:blue")
    axis.set(xscale="log", xlabel=text(lang, "plot.lr_axis"), ylabel=text(lang, "plot.loss"))
    if title is not None:
        axis.set_title(title)
    lowest = min(loss for _, loss in points)
    top = max(loss for _, loss in points)
    if points[0][1] > 0:
        top = min(top, 2 * points[0][1])
    axis.set_ylim(lowest - 0.05 * (top - lowest or 1.0), top + 0.05 * (top - lowest or 1.0))
    if suggestion is not None:
        _mark_suggestion(
            axis, points, suggestion, text(lang, "plot.suggested", lr=f"{suggestion:.2g}")
        )
    axis.grid(True, alpha=0.3)
    return _save(fig, path, lang)


# --- helpers -----------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas (no pyplot: nothing global, nothing interactive)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike, lang: str = "en") -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically, its text in ``lang``'s fonts; ``path``."""
    from matplotlib import rc_context
    from matplotlib.text import Text

    families = _families(lang)
    for item in fig.findobj(Text):  # titles, labels, legends: made before this
        item.set_fontfamily(families)
    target = Path(path)
    with rc_context({"font.family": families}), atomic_open(target, "wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)  # tick labels: made as it draws
    return target


@functools.cache
def _register_korean() -> None:
    """Make NanumGothic (koreanize-matplotlib's file) known to matplotlib, once."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(korean_font()))


def _families(lang: str) -> list[str]:
    """Fonts in order: NanumGothic first in Korean, behind DejaVu Sans (for Hangul) otherwise."""
    try:
        _register_korean()
    except FileNotFoundError:
        return [LATIN]  # no Hangul, but a plot all the same
    return [KOREAN, LATIN] if lang == "ko" else [LATIN, KOREAN]


def _curves(
    axis: Axes, history: Sequence[dict[str, float]], keys: list[str], label: str, lang: str
) -> None:
    """One line per key present in ``history`` against the epoch, last value in the legend."""
    from matplotlib.ticker import MaxNLocator

    for key in keys:
        points = [
            (r.get("epoch", i + 1), r[key])
            for i, r in enumerate(history)
            if isinstance(r.get(key), int | float)  # a metric may be missing in some epochs
        ]
        if points:
            epochs, values = zip(*points, strict=True)
            name = _name(lang, key)
            axis.plot(epochs, values, marker="o", markersize=3, label=f"{name} ({values[-1]:.4g})")
    per_epoch = text(lang, "plot.per_epoch", label=label)
    axis.set(xlabel=text(lang, "plot.epoch"), ylabel=label, title=per_epoch)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axis.grid(True, alpha=0.3)
    if axis.lines:
        axis.legend()


def _name(lang: str, key: str) -> str:
    """A record's key (``valid_loss``) as the catalogue names it, else the key itself."""
    try:
        return text(lang, f"name.{key}")
    except KeyError:
        return key


def _grid(images: torch.Tensor, titles: list[str], path: PathLike, empty: str, lang: str) -> Path:
    """``(n, 28, 28)`` images in rows of up to 6, dark ink on white, each with its title.

    One mosaic on one axes, the titles as text: a figure of 36 axes took seconds
    to lay out and draw (``mnist-sgd report`` on the seed's run); this takes tens of ms.
    """
    count = len(titles)
    columns = max(1, min(count, 6))
    rows = max(1, math.ceil(count / columns))
    width, height = 32, 44  # per cell: the 28x28 image, a margin, two title lines above
    fig = _figure(max(0.05 * width * columns, 4.0), max(0.05 * height * rows, 3.0))
    fig.set_layout_engine("none")
    axis = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    axis.set_axis_off()
    mosaic = torch.zeros(rows * height, columns * width)
    for index, title in enumerate(titles):
        top, left = (index // columns + 1) * height - 30, (index % columns) * width + 2
        mosaic[top : top + 28, left : left + 28] = images[index].detach().cpu().float()
        axis.text(left + 13.5, top - 1.5, title, ha="center", va="bottom", fontsize=9)
    axis.imshow(mosaic.numpy(), cmap="Greys", vmin=0, vmax=255, interpolation="nearest")
    if count == 0:
        fig.text(0.5, 0.5, empty, ha="center", va="center", fontsize=14)
    return _save(fig, path, lang)


def _weight_maps(weight: torch.Tensor) -> torch.Tensor:
    """``(784, k)`` or ``(k, 784)`` -> ``(k, 28, 28)`` float, on the CPU."""
    if weight.dim() == 1 and weight.numel() == 784:
        weight = weight.unsqueeze(1)
    if weight.dim() != 2 or 784 not in weight.shape or weight.numel() == 0:
        raise ValueError(f"weight must be (784, k) or (k, 784), got {tuple(weight.shape)}")
    columns = weight if weight.shape[0] == 784 else weight.T  # (784, k)
    return columns.detach().cpu().float().T.reshape(-1, 28, 28)


def _mark_suggestion(
    axis: Axes, points: list[tuple[float, float]], suggestion: float, label: str
) -> None:
    """A dashed line at ``suggestion`` and a dot on the curve's nearest point."""
    if not suggestion > 0:
        raise ValueError(f"suggestion must be > 0, got {suggestion}")
    lr, loss = min(points, key=lambda point: abs(math.log(point[0] / suggestion)))
    axis.axvline(suggestion, color="tab:red", linestyle="--", linewidth=1, label=label)
    axis.plot([lr], [loss], "o", color="tab:red")
    axis.legend(loc="upper left")


def _cells(k: int) -> list[tuple[int, int]]:
    """``(row, col)`` of a ``k x k`` matrix in row-major order."""
    return [(row, col) for row in range(k) for col in range(k)]


def _as_list(values: Sequence[int] | Sequence[float] | torch.Tensor) -> list:
    """A tensor or sequence as a plain list."""
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)
