"""What a person sees while training: a bar within each epoch, one table row per epoch.

The bar is drawn only when stderr is a terminal; in a pipe, a log file or a
notebook's ``!mnist-sgd`` the epoch rows (stdout) are the progress.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from mnist_sgd.core.callback import Callback
from mnist_sgd.core.learner import Learner


class ProgressPrinter(Callback):
    """Prints the epoch table (or JSON lines) and draws a tqdm bar on stderr within epochs."""

    def __init__(
        self, *, quiet: bool = False, as_json: bool = False, out: TextIO | None = None
    ) -> None:
        self.quiet, self.as_json, self.out = quiet, as_json, out or sys.stdout
        self.bar: Any = None
        self.header_done = False

    def before_epoch(self, learn: Learner) -> None:
        if self.quiet or self.as_json:
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=len(learn.dls.train),
            initial=learn.iter,
            leave=False,
            file=sys.stderr,
            desc=f"epoch {learn.epoch + 1}/{learn.n_epoch}",
            unit="batch",
            mininterval=0.2,
            disable=None,  # a terminal only: into a pipe or a log, a bar is '\r' fragments
        )

    def after_batch(self, learn: Learner) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def after_epoch(self, learn: Learner) -> None:
        self.close_bar()
        record = learn.history[-1]
        if self.as_json:
            print(
                json.dumps({k: int(v) if k == "epoch" else v for k, v in record.items()}),
                file=self.out,
                flush=True,
            )
        elif not self.quiet:
            self.print_row(record)

    def after_fit(self, learn: Learner) -> None:
        self.close_bar()

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def print_row(self, record: dict[str, float]) -> None:
        names = [k for k in record if k not in ("epoch", "seconds")]
        if not self.header_done:
            print(
                f"{'epoch':>5}  " + "  ".join(f"{n:>14}" for n in names) + f"  {'time':>7}",
                file=self.out,
            )
            self.header_done = True
        cells = "  ".join(f"{record[n]:>14.4f}" for n in names)
        print(
            f"{int(record['epoch']):>5}  {cells}  {record['seconds']:>6.2f}s",
            file=self.out,
            flush=True,
        )
