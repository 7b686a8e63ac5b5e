"""A run's pictures and one self-contained HTML page about it.

``write_report(run, data)`` scores the run's model on the validation split,
draws every plot (curves, weights of a linear model, confusion matrix, worst
mistakes, dataset samples, and the lr finder curve if ``plots/lr_find.png``
is there) into ``RUN/plots/``, and writes ``RUN/report.html`` with each image
embedded, so the page opens offline, alone, anywhere.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_sgd.files import atomic_write_text
from mnist_sgd.pictures import plots
from mnist_sgd.runs import Run

if TYPE_CHECKING:
    from mnist_sgd.datasets import MnistData

N_MISTAKES = 24


def draw_plots(run: Run, data: MnistData) -> dict[str, Path]:
    """Every plot for ``run`` into ``run.path/plots``; returns title -> PNG path."""
    folder = run.path / "plots"
    result = run.evaluate(data.valid_images, data.valid_labels)
    drawn: dict[str, Path] = {}
    if run.history:
        drawn["Loss and accuracy per epoch"] = plots.plot_history(
            run.history, folder / "history.png"
        )
    weight = linear_weight(run)
    if weight is not None:
        initial, source = initial_weight(run)
        drawn["What the linear model learned: its weights, and their change in training"] = (
            plots.plot_weights(
                weight, run.classes, folder / "weights.png", initial=initial, change_title=source
            )
        )
    drawn["Confusion matrix"] = plots.plot_confusion(
        result["confusion"], run.classes, folder / "confusion.png"
    )
    drawn["Worst mistakes"] = worst_mistakes(result, data, run.classes, folder / "mistakes.png")
    drawn["Samples of the data"] = random_samples(data, run.classes, folder / "samples.png")
    if (folder / "lr_find.png").exists():
        drawn["Learning-rate finder"] = folder / "lr_find.png"
    return drawn


def linear_weight(run: Run) -> torch.Tensor | None:
    """The ``(784, k)`` weights of a ``linear`` run, else None."""
    if run.info["model"]["name"] != "linear":
        return None
    return run.model.state_dict()["weights"].detach().cpu()


def initial_weight(run: Run) -> tuple[torch.Tensor | None, str]:
    """A linear run's weights before training, and a title saying where they come from.

    ``init.safetensors`` when the run has it; else rebuilt from the run's seed as
    ``training.build_learner`` built them (``torch.manual_seed``, then the model);
    None when the run records no seed.
    """
    state = run.initial_state()
    if state is not None:
        return state["weights"].detach().cpu(), "change since initialisation"
    seed = run.info.get("train", {}).get("seed")
    if seed is None:
        return None, "no initial weights saved"
    from mnist_sgd.runs import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_model(run.info)
    initial = model.state_dict()["weights"].detach().cpu()
    return initial, f"change since initialisation (rebuilt from seed {seed})"


def worst_mistakes(result: dict[str, Any], data: MnistData, classes: list[str], path: Path) -> Path:
    """The misclassified images with the highest loss (lowest probability of the true class)."""
    labels, preds, probs = data.valid_labels, result["preds"], result["probs"]
    true_prob = probs[torch.arange(len(labels)), labels]
    wrong = (preds != labels).nonzero().flatten()
    order = wrong[true_prob[wrong].argsort()][:N_MISTAKES]
    confidence = probs[order, preds[order]]
    return plots.plot_mistakes(
        data.valid_images[order], labels[order], preds[order], confidence, classes, path
    )


def random_samples(data: MnistData, classes: list[str], path: Path, n: int = 36) -> Path:
    """A fixed random draw of validation images (the split is ordered by class)."""
    pick = torch.randperm(len(data.valid_labels), generator=torch.Generator().manual_seed(0))[:n]
    return plots.plot_samples(data.valid_images[pick], data.valid_labels[pick], classes, path, n=n)


def write_report(run: Run, data: MnistData) -> Path:
    """Draw the plots and write ``report.html`` (images embedded); returns its path."""
    drawn = draw_plots(run, data)
    page = render_html(run, drawn)
    path = run.path / "report.html"
    atomic_write_text(path, page)
    return path


def render_html(run: Run, drawn: dict[str, Path]) -> str:
    """The report page: options, the table of epochs, every plot as a data: URI."""
    info, esc = run.info, html.escape
    final = info.get("final") or (run.history[-1] if run.history else {})
    options = "".join(
        f"<tr><th>{esc(str(k))}</th><td>{esc(json.dumps(v))}</td></tr>"
        for k, v in (info.get("train") or {}).items()  # None: exported from a notebook
    )
    figures = "".join(
        f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{_b64(path)}">'
        f"<figcaption>{esc(title)}</figcaption></figure>"
        for title, path in drawn.items()
    )
    scores = ", ".join(f"{k} {v:.4f}" for k, v in final.items() if k not in ("epoch", "seconds"))
    summary = f"{esc(info['dataset'])} · {esc(info['model']['name'])} · {esc(scores)}"
    return PAGE.format(
        title=esc(run.path.name),
        summary=summary,
        options=options,
        epochs=epochs_table(run.history),
        figures=figures,
    )


def epochs_table(history: list[dict[str, float]]) -> str:
    """The per-epoch records as an HTML table."""
    if not history:
        return "<p>No finished epoch.</p>"
    keys = list(history[0])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(k, r.get(k))}</td>" for k in keys) + "</tr>" for r in history
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if key == "epoch" else f"{value:.4f}"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mnist-sgd report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }}
figure {{ margin: 1.5rem 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Run {title}</h1>
<p>{summary}</p>
<h2>Options</h2><table>{options}</table>
<h2>Epochs</h2>{epochs}
<h2>Pictures</h2>{figures}
</body></html>
"""
