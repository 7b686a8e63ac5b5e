"""The end of a finished run: its curves (``plots/history.png``) and the chance warning.

Every way of making a run folder finishes here (``RunTrainer`` for ``mnist-sgd train`` and
the studio, ``learn.export`` for a notebook), so each folder gets its curves, and a curve
that cannot be drawn (a full disk) is said, never lost without a word: these functions
return the warning's text for the caller to show. A plot never costs the trained model.
At a terminal ``mnist-sgd train`` draws them in a detached process (``cli/train.py``: the
prompt comes back a second sooner), through the same :func:`draw_curves`.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

CURVES = Path("plots") / "history.png"


def draw_curves(run_dir: Path, history: list[dict[str, float]]) -> str | None:
    """``plots/history.png`` now; the warning to show if it cannot be drawn, else None."""
    try:
        from mnist_sgd.pictures.plots import plot_history

        plot_history(history, Path(run_dir) / CURVES)
    except Exception as error:  # a plot must never cost the user the trained model
        return f"warning: could not draw the curves into {Path(run_dir) / CURVES}: {error}"
    return None


def chance_warning(history: list[dict[str, float]], labels: Tensor, lr: float) -> str | None:
    """The warning when the model ends no better than always answering the commonest class."""
    import torch

    last = history[-1] if history else {}
    accuracy = next((v for k, v in last.items() if "accuracy" in k), None)
    if accuracy is None or len(labels) == 0:
        return None
    commonest = float(torch.bincount(labels).max()) / len(labels)
    if accuracy > commonest + 0.01:
        return None
    return (
        f"warning: validation accuracy {accuracy:.4f} is no better than always answering "
        f"the commonest class ({commonest:.4f}): training failed; lr {lr:g} may be too high, "
        "try 'mnist-sgd lr-find'"
    )
