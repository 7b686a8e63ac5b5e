"""What several commands share: the help layout, where data comes from, output format."""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sgd.datasets.base import CACHE_ENV, MIRROR_ENV

if TYPE_CHECKING:
    from mnist_sgd.datasets import DataOptions


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's help: examples keep their line breaks; a real default is shown.

    ``(default: X)`` is added only where X means something: not for flags whose
    default is None (the command works it out, and the help says how) or False.
    Lines break between words only, never inside ``seed-simple-net``.
    """

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or action.option_strings == []
            or isinstance(default, list)
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_run_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN", help="a run folder made by 'mnist-sgd train'"
    )


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data sources")
    group.add_argument(
        "--data-path",
        type=Path,
        help="a local copy of the dataset (folder or archive), used before anything else",
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=os.environ.get(CACHE_ENV) or None,
        help=f"where downloads and tensor caches live (env {CACHE_ENV}; "
        "default: the user cache folder)",
    )
    group.add_argument(
        "--mirror",
        default=os.environ.get(MIRROR_ENV) or None,
        help=f"a base URL or folder holding the official file names (env {MIRROR_ENV})",
    )
    group.add_argument(
        "--offline", action="store_true", help="never use the network (local copy, cache or mirror)"
    )
    group.add_argument(
        "--valid-pct",
        type=number,
        metavar="P",
        help="a dataset given by its path with no validation split keeps this share of its "
        "items for validation, chosen by a fixed seed (default: 0.2; a resumed run: its own)",
    )


def number(text: str) -> float:
    """argparse type: a float (its range is checked by whoever uses it, e.g. ``TrainConfig``)."""
    return _parse(float, text, "a number")


def whole_number(text: str) -> int:
    """argparse type: an int (its range is checked by whoever uses it, e.g. ``TrainConfig``)."""
    return _parse(int, text, "a whole number")


def _parse(kind: Callable[[str], Any], text: str, what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_float(text: str) -> float:
    """argparse type: a float > 0 (finite), for a flag that is not a ``TrainConfig`` field."""
    value = number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, for a flag that is not a ``TrainConfig`` field."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def data_options(args: argparse.Namespace, progress: bool = True) -> DataOptions:
    """The ``DataOptions`` the data flags describe, with a tqdm progress bar on stderr."""
    from mnist_sgd.datasets import DataOptions

    valid_pct = 0.2 if args.valid_pct is None else args.valid_pct
    if not 0 < valid_pct < 1:
        raise ValueError(f"argument --valid-pct: must be between 0 and 1, got {valid_pct}")
    return DataOptions(
        path=args.data_path,
        cache_dir=args.cache_dir,
        mirror=args.mirror,
        offline=args.offline,
        progress=download_bar() if progress else None,
        valid_pct=valid_pct,
    )


def download_bar() -> Callable[[str, int, int | None], None]:
    """A progress callback ``(what, done, total)`` that draws one tqdm bar per file on stderr."""
    import sys

    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(what: str, done: int, total: int | None) -> None:
        bar = bars.get(what)
        if bar is None:
            bar = bars[what] = tqdm(
                total=total,
                desc=what,
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                leave=False,
                disable=None,  # drawn on a terminal only, not into logs and pipes
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return update


def add_json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell, two spaces apart, on stdout."""
    cells = [tuple(map(str, header)), *(tuple(map(str, row)) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def human_size(size: int) -> str:
    """``28881`` -> ``28.9 kB``; ``9912422`` -> ``9.9 MB`` (SI units, never ``0.0 MB``)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
