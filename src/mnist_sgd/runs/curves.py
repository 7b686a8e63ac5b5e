"""The end of a finished run: its curves (``plots/history.png``) and the chance warning.

The chance rule (:func:`at_chance`) is also the studio's live one, each epoch
(:func:`stuck_reason`): one rule of a model that learned nothing.

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

from mnist_sgd.i18n import Said

CURVES = Path("plots") / "history.png"


def draw_curves(run_dir: Path, history: list[dict[str, float]]) -> str | None:
    """``plots/history.png`` now; the warning to show if it cannot be drawn, else None."""
    try:
        from mnist_sgd.pictures.plots import plot_history

        plot_history(history, Path(run_dir) / CURVES)
    except Exception as error:  # a plot must never cost the user the trained model
        return f"warning: could not draw the curves into {Path(run_dir) / CURVES}: {error}"
    return None


def at_chance(record: dict[str, float], labels: Tensor) -> tuple[float, float] | None:
    """``(accuracy, commonest)`` when an epoch's accuracy is no better than always answering
    the commonest class (within 0.01), else None: the one rule of a model that learned nothing.
    """
    import torch

    accuracy = next((v for k, v in record.items() if "accuracy" in k), None)
    if accuracy is None or len(labels) == 0:
        return None
    commonest = float(torch.bincount(labels).max()) / len(labels)
    if accuracy > commonest + 0.01:
        return None
    return accuracy, commonest


def chance_warning(history: list[dict[str, float]], labels: Tensor, lr: float) -> str | None:
    """The warning when the model ends no better than always answering the commonest class."""
    found = at_chance(history[-1] if history else {}, labels)
    if found is None:
        return None
    accuracy, commonest = found
    return (
        f"warning: validation accuracy {accuracy:.4f} is no better than always answering "
        f"the commonest class ({commonest:.4f}): training failed; lr {lr:g} may be too high, "
        "try 'mnist-sgd lr-find'"
    )


STILL = 1e-6
"""A validation loss that changes by less than this fraction from one epoch to the next has
stopped moving (the gradients vanish: a saturated sigmoid), not merely slowed down."""


def stuck_reason(
    history: list[dict[str, float]], labels: Tensor, lr: float, *, sigmoid: bool
) -> str | None:
    """One line when the latest epoch is stuck, else None: the live form of the chance warning.

    Stuck: the epoch's accuracy is at chance (:func:`at_chance`), or its validation loss has not
    moved since the epoch before. ``sigmoid``: the loss squashes scores with a sigmoid (the
    book's ``mnist_loss``), whose saturation at a high lr is then the likely cause. In English;
    :func:`stuck_said` gives the same by catalogue key, for a page in its reader's language.
    """
    said = stuck_said(history, labels, lr, sigmoid=sigmoid)
    return None if said is None else said.text("en")


def stuck_said(
    history: list[dict[str, float]], labels: Tensor, lr: float, *, sigmoid: bool
) -> Said | None:
    """:func:`stuck_reason` as a catalogue key (``stuck.*``) and its numbers."""
    if not history:
        return None
    last = history[-1]
    why = "sigmoid" if sigmoid else "lr"
    found = at_chance(last, labels)
    if found is not None:
        accuracy, commonest = found
        numbers = {"accuracy": f"{100 * accuracy:.1f}", "commonest": f"{100 * commonest:.1f}"}
        return Said(f"stuck.chance_{why}", {**numbers, "lr": f"{lr:g}"})
    if len(history) >= 2:
        before, now = history[-2].get("valid_loss"), last.get("valid_loss")
        if before is not None and now is not None and abs(now - before) <= STILL * abs(before):
            return Said(f"stuck.still_{why}", {"loss": f"{now:.4f}", "lr": f"{lr:g}"})
    return None
