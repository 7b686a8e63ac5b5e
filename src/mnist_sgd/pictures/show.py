"""Pictures in a notebook: the chapter's ``show_image`` and ``plot_function``, and image grids.

Book sections: "Pixels: the foundations of computer vision" (``show_image``)
and "Sigmoid" (``plot_function``). Each draws on matplotlib's current figure
(inline in Jupyter) and returns the ``Axes``; saving files is ``plots``' job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def show_image(
    im: Tensor, ax: Axes | None = None, title: str | None = None, cmap: str = "Greys", **kwargs: Any
) -> Axes:
    """Show one image ``(28, 28)`` (or ``(784,)``, ``(1, 28, 28)``), dark ink on white as the book.

    Returns the ``Axes`` drawn on (a new small figure unless ``ax`` is given).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=kwargs.pop("figsize", (2, 2)))
    ax.imshow(_as_picture(im), cmap=cmap, **kwargs)
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax


def plot_function(
    f: Callable[[Tensor], Tensor],
    tx: str | None = None,
    ty: str | None = None,
    title: str | None = None,
    min: float = -2,
    max: float = 2,
    figsize: tuple[float, float] = (6, 4),
) -> Axes:
    """Plot ``f`` over 100 points in ``[min, max]``, as fastbook's ``plot_function``."""
    import matplotlib.pyplot as plt

    x = torch.linspace(min, max, 100)
    _, ax = plt.subplots(figsize=figsize)
    ax.plot(x.numpy(), f(x).detach().numpy())
    if tx is not None:
        ax.set_xlabel(tx)
    if ty is not None:
        ax.set_ylabel(ty)
    if title is not None:
        ax.set_title(title)
    return ax


def show_images(
    images: Tensor | Sequence[Tensor], titles: Sequence[str] = (), ncols: int = 6
) -> Any:
    """A grid of images ``(n, 28, 28)`` (or flat rows), each with its title; returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    nrows = max(-(-n // ncols), 1)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        if i < n:
            show_image(images[i], ax=ax, title=titles[i] if i < len(titles) else None)
        else:
            ax.axis("off")
    return fig


def _as_picture(im: Tensor) -> Any:
    """``(784,)``, ``(1, 28, 28)`` or ``(28, 28)`` -> a ``(28, 28)`` float numpy array."""
    t = torch.as_tensor(im).detach().cpu().float()
    if t.ndim == 1 and t.numel() == 28 * 28:
        t = t.view(28, 28)
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    return t.numpy()


def show_png(path: Path) -> None:
    """Show a PNG file in the notebook (the pictures ``plots`` saves)."""
    from IPython.display import Image, display

    display(Image(data=Path(path).read_bytes(), format="png"))
