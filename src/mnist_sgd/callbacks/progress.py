"""Training in Jupyter, as fastai users expect: a live progress bar and one table row per epoch.

:class:`NotebookProgress` draws through IPython's display handles (HTML, with
a plain-text twin for consoles and ``nbconvert --to markdown``). A ``Learner``
made inside a Jupyter kernel gets one by itself (:func:`notebook_callbacks`);
outside a notebook nothing is shown unless a callback is given.

Epochs are numbered 1..n, as ``learn.history`` records them and as the CLI's table and
``metrics.jsonl`` do: one numbering wherever a learner meets an epoch number, counted as
people count epochs ("the 10th epoch" is the last of ``fit(10)``). fastai's table counts
from 0; that is the one place the book's printed table and ours differ.
"""

from __future__ import annotations

import html
import sys
import time
from typing import TYPE_CHECKING, Any

from mnist_sgd.core.callback import Callback

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell); never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def notebook_callbacks() -> list[Callback]:
    """The callbacks a ``Learner`` gets by default: progress in a notebook, else none."""
    return [NotebookProgress()] if in_notebook() else []


class Display:
    """A piece of output with an HTML and a plain-text form (what a display handle shows)."""

    def __init__(self, html_text: str, plain: str) -> None:
        self.html_text, self.plain = html_text, plain

    def _repr_html_(self) -> str:
        return self.html_text

    def __repr__(self) -> str:
        return self.plain


class NotebookProgress(Callback):
    """A live bar within each epoch, and a table with a row per finished epoch.

    Args:
        table: show the epoch table (the lr finder shows only the bar).
        every: seconds between two redraws of the bar.
    """

    def __init__(self, table: bool = True, every: float = 0.2) -> None:
        self.table, self.every = table, every
        self.rows: list[dict[str, float]] = []
        self.bar: Any = None
        self.board: Any = None
        self.start = self.last = 0.0

    def before_fit(self, learn: Learner) -> None:
        from IPython.display import display

        self.rows = [dict(r) for r in learn.history]
        if self.table:
            self.board = display(self._table(), display_id=True)
        self.bar = display(Display("", ""), display_id=True)

    def before_epoch(self, learn: Learner) -> None:
        self.start = self.last = time.perf_counter()
        self._draw_bar(learn)

    def after_batch(self, learn: Learner) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every or learn.iter == len(learn.dls.train):
            self.last = now
            self._draw_bar(learn)

    def after_epoch(self, learn: Learner) -> None:
        self.rows.append(dict(learn.history[-1]))
        if self.board is not None:
            self.board.update(self._table())

    def after_fit(self, learn: Learner) -> None:
        if self.bar is not None:
            self.bar.update(Display("", ""))

    def _draw_bar(self, learn: Learner) -> None:
        total = max(len(learn.dls.train), 1)
        done, spent = learn.iter, time.perf_counter() - self.start
        left = spent / done * (total - done) if done else 0.0
        label = (
            f"epoch {learn.epoch + 1}/{learn.n_epoch}: {done}/{total} "
            f"[{spent:.1f}s<{left:.1f}s] loss {float(learn.loss):.4f}"
        )
        bar = f'<progress value="{done}" max="{total}" style="width:300px"></progress> '
        self.bar.update(Display(bar + html.escape(label), label))

    def _table(self) -> Display:
        if not self.rows:
            return Display("", "")
        names = [k for k in self.rows[0] if k != "seconds"]
        head = "".join(f"<th>{html.escape(n)}</th>" for n in [*names, "time"])
        body = "".join(
            "<tr>"
            + "".join(f"<td>{_cell(n, r[n])}</td>" for n in names)
            + f"<td>{r['seconds']:.2f}s</td></tr>"
            for r in self.rows
        )
        lines = ["  ".join(f"{n:>14}" for n in [*names, "time"])]
        lines += [
            "  ".join(f"{_cell(n, r[n]):>14}" for n in names) + f"  {r['seconds']:>13.2f}s"
            for r in self.rows
        ]
        return Display(
            f'<table class="mnist-sgd-fit"><tr>{head}</tr>{body}</table>', "\n".join(lines)
        )


def _cell(name: str, value: float) -> str:
    """The epoch as recorded (from 1, as the CLI's table); other values to four places."""
    return str(int(value)) if name == "epoch" else f"{value:.4f}"
