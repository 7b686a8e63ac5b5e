"""The small helpers of fastcore, fastai and fastbook that chapter 4 calls, for ``mnist_sgd.book``.

Each does what the chapter asks of it and no more: ``L`` (fastcore's list, as far as
``(#n) [...]``, ``.sorted()`` and ``.itemgot(i)``), ``ls`` (``Path.ls()``: an ``L`` of a
folder's entries), ``path_repr`` (``Path('train/3/10.png')``, relative to
``Path.BASE_PATH`` once the chapter sets it), ``first``, ``tensor`` (also from a PIL
image), ``to_np``, fastbook's ``gv`` (a graphviz diagram), and ``MissingModule`` (an
optional package's stand-in). They stand beside the book's scope, not in the library.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

MISSING_DOT = (
    "gv: graphviz's `dot` program is missing, so the diagram is shown as its source; "
    "install the graphviz system package (apt install graphviz, brew install graphviz, "
    "conda install graphviz)"
)
MISSING_GRAPHVIZ = "gv: the graphviz package is missing; pip install 'mnist-sgd[notebook]'"


class MissingModule(ModuleType):
    """Stands in for an optional package: any use raises ``ModuleNotFoundError`` saying what
    to install (``pd.DataFrame`` without pandas)."""

    def __init__(self, name: str, install: str) -> None:
        super().__init__(name)
        self.install = install

    def __getattr__(self, attribute: str) -> Any:
        raise ModuleNotFoundError(f"{self.__name__} is missing; install it with: {self.install}")


class L(list[Any]):
    """fastcore's ``L`` as chapter 4 uses it: a list shown as ``(#n) [first ten,...]``.

    ``path.ls().sorted()``, ``L(enumerate(string.ascii_lowercase))`` and
    ``L(learn.recorder.values).itemgot(2)``; everything else is the ``list`` it is.
    """

    def __repr__(self) -> str:
        shown = ",".join(repr(item) for item in self[:10])
        return f"(#{len(self)}) [{shown}{',...' if len(self) > 10 else ''}]"

    def sorted(self, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> L:
        """A new ``L``, sorted (``Path`` objects sort by name)."""
        return L(sorted(self, key=key, reverse=reverse))

    def itemgot(self, index: int) -> L:
        """``L(item[index] for item in self)``: one column of a list of rows."""
        return L(item[index] for item in self)


def ls(self: Path) -> L:
    """``path.ls()``: the folder's entries as an ``L``, in the file system's order, as fastcore."""
    return L(self.iterdir())


def path_repr(self: Path) -> str:
    """fastcore's ``repr`` of a ``Path``: ``Path('valid')``, relative to ``Path.BASE_PATH``."""
    base = getattr(Path, "BASE_PATH", None)
    if base is not None and self.is_relative_to(base):
        self = self.relative_to(base)
    return f"Path({self.as_posix()!r})"


def first(items: Iterable[Any]) -> Any:
    """The first item of ``items`` (fastcore's ``first``): ``xb, yb = first(dl)``."""
    return next(iter(items), None)


def tensor(x: Any, *rest: Any, **kwargs: Any) -> Tensor:
    """fastai's ``tensor``: ``torch.tensor`` that also takes a PIL image (``(h, w) uint8``).

    ``tensor(im3)`` for a 28x28 PNG gives ``(28, 28) uint8``; ``tensor(1, 2, 3)`` a vector.
    """
    if rest:
        x = (x, *rest)
    if isinstance(x, Image.Image):
        x = np.array(x)
    return torch.tensor(x, **kwargs)


def to_np(x: Tensor) -> np.ndarray:
    """A tensor as a NumPy array (detached, on the CPU), as fastai's ``to_np``."""
    return x.detach().cpu().numpy()


class Diagram:
    """A graphviz diagram for Jupyter: SVG drawn by ``dot``, else its source under one line
    saying what to install."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        try:
            import graphviz
        except ImportError:
            return {"text/plain": f"{MISSING_GRAPHVIZ}\n{self.source}"}
        if shutil.which("dot") is None:
            return {"text/plain": f"{MISSING_DOT}\n{self.source}"}
        return {"image/svg+xml": graphviz.Source(self.source).pipe(format="svg", encoding="utf-8")}

    def __repr__(self) -> str:
        return self.source


def gv(s: str) -> Diagram:
    """fastbook's ``gv``: a left-to-right graphviz digraph of the edges in ``s``."""
    return Diagram('digraph G{rankdir="LR"' + s + "; }")
