"""A run's pictures and one self-contained HTML page about it.

``write_report(run, data)`` scores the run's model on the validation split,
draws every plot (curves, weights of a linear model, confusion matrix, worst
mistakes, dataset samples, and the lr finder curve if ``plots/lr_find.png``
is there) into ``RUN/plots/``, and writes ``RUN/report.html`` with each image
embedded, so the page opens offline, alone, anywhere. ``lang`` (``"en"``, ``"ko"``) picks
the catalogue (``mnist_sgd.i18n``) of every word on the page and in its pictures.
"""

from __future__ import annotations

import base64
import functools
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_sgd.files import atomic_write_text
from mnist_sgd.i18n import Said, korean_web_font, text
from mnist_sgd.pictures import plots
from mnist_sgd.runs import Run

if TYPE_CHECKING:
    from mnist_sgd.datasets import MnistData

N_MISTAKES = 24


def draw_plots(run: Run, data: MnistData, *, lang: str = "en") -> dict[str, Path]:
    """Every plot for ``run`` into ``run.path/plots``, in ``lang``; returns title -> PNG path."""
    folder, say = run.path / "plots", functools.partial(text, lang)
    result = run.evaluate(data.valid_images, data.valid_labels)
    drawn: dict[str, Path] = {}
    if run.history:
        drawn[say("report.history")] = plots.plot_history(
            run.history, folder / "history.png", lang=lang
        )
    weight = linear_weight(run)
    if weight is not None:
        initial, source = initial_weight(run)
        drawn[say("report.weights")] = plots.plot_weights(
            weight, run.classes, folder / "weights.png", initial, source.text(lang), lang=lang
        )
    drawn[say("report.confusion")] = plots.plot_confusion(
        result["confusion"], run.classes, folder / "confusion.png", lang=lang
    )
    drawn[say("report.mistakes")] = worst_mistakes(
        result, data, run.classes, folder / "mistakes.png", lang
    )
    drawn[say("report.samples")] = random_samples(
        data, run.classes, folder / "samples.png", lang=lang
    )
    if (folder / "lr_find.png").exists():
        drawn[say("report.lr_find")] = folder / "lr_find.png"
    return drawn


def linear_weight(run: Run) -> torch.Tensor | None:
    """The ``(784, k)`` weights of a ``linear`` run, else None."""
    if run.info["model"]["name"] != "linear":
        return None
    return run.model.state_dict()["weights"].detach().cpu()


def initial_weight(run: Run) -> tuple[torch.Tensor | None, Said]:
    """A linear run's weights before training, and a title saying where they come from.

    ``init.safetensors`` when the run has it; else rebuilt from the run's seed as
    ``training.build_learner`` built them (``torch.manual_seed``, then the model);
    None when the run records no seed.
    """
    state = run.initial_state()
    if state is not None:
        return state["weights"].detach().cpu(), Said("plot.change")
    seed = run.info.get("train", {}).get("seed")
    if seed is None:
        return None, Said("plot.no_initial")
    from mnist_sgd.runs import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_model(run.info)
    initial = model.state_dict()["weights"].detach().cpu()
    return initial, Said("plot.change_rebuilt", {"seed": seed})


def worst_mistakes(
    result: dict[str, Any], data: MnistData, classes: list[str], path: Path, lang: str = "en"
) -> Path:
    """The misclassified images with the highest loss (lowest probability of the true class)."""
    labels, preds, probs = data.valid_labels, result["preds"], result["probs"]
    true_prob = probs[torch.arange(len(labels)), labels]
    wrong = (preds != labels).nonzero().flatten()
    order = wrong[true_prob[wrong].argsort()][:N_MISTAKES]
    confidence = probs[order, preds[order]]
    return plots.plot_mistakes(
        data.valid_images[order], labels[order], preds[order], confidence, classes, path, lang=lang
    )


def random_samples(
    data: MnistData, classes: list[str], path: Path, n: int = 36, *, lang: str = "en"
) -> Path:
    """A fixed random draw of validation images (the split is ordered by class)."""
    pick = torch.randperm(len(data.valid_labels), generator=torch.Generator().manual_seed(0))[:n]
    images, labels = data.valid_images[pick], data.valid_labels[pick]
    return plots.plot_samples(images, labels, classes, path, n=n, lang=lang)


def write_report(run: Run, data: MnistData, *, lang: str = "en") -> Path:
    """Draw the plots and write ``report.html`` (images embedded) in ``lang``; returns its path."""
    drawn = draw_plots(run, data, lang=lang)
    page = render_html(run, drawn, lang=lang)
    path = run.path / "report.html"
    atomic_write_text(path, page)
    return path


def render_html(run: Run, drawn: dict[str, Path], *, lang: str = "en") -> str:
    """The report page: options, the table of epochs, every plot as a data: URI.

    Options are shown by their code names (``<code>lr</code>``: what ``mnist-sgd train``
    takes); the epochs' columns by their names in ``lang``.
    """
    info, esc, say = run.info, html.escape, functools.partial(text, lang)
    final = info.get("final") or (run.history[-1] if run.history else {})
    options = "".join(
        f"<tr><th><code>{esc(str(k))}</code></th><td><code>{esc(json.dumps(v))}</code></td></tr>"
        for k, v in (info.get("train") or {}).items()  # None: exported from a notebook
    )
    figures = "".join(
        f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{_b64(path)}">'
        f"<figcaption>{esc(title)}</figcaption></figure>"
        for title, path in drawn.items()
    )
    scores = ", ".join(
        f"{name(lang, k)} {v:.4f}" for k, v in final.items() if k not in ("epoch", "seconds")
    )
    summary = f"{esc(info['dataset'])} · {esc(info['model']['name'])} · {esc(scores)}"
    page = PAGE.format(
        lang=lang,
        title=esc(say("report.title", name=run.path.name)),
        heading=esc(say("report.heading", name=run.path.name)),
        summary=summary,
        options_title=esc(say("report.options")),
        options=options,
        epochs_title=esc(say("report.epochs")),
        epochs=epochs_table(run.history, lang),
        pictures_title=esc(say("report.pictures")),
        figures=figures,
    )
    return page if lang == "en" else page.replace("<style>", f"<style>{hangul_font(page)}", 1)


def hangul_font(page: str) -> str:
    """An ``@font-face`` of NanumGothic cut down to the Hangul on ``page``, as a data: URI.

    A few kB that let the page show its Hangul offline, on any machine, Korean fonts or not.
    """
    hangul = "".join(sorted({c for c in page if "\uac00" <= c <= "\ud7a3"}))
    data = base64.b64encode(korean_web_font(hangul)).decode("ascii")
    return (
        '@font-face { font-family: "NanumGothic"; '
        f'src: url("data:font/ttf;base64,{data}") format("truetype"); }}\n'
    )


def name(lang: str, key: str) -> str:
    """A record's key (``valid_loss``) as ``lang``'s catalogue names it, else the key itself."""
    try:
        return text(lang, f"name.{key}")
    except KeyError:
        return key


def epochs_table(history: list[dict[str, float]], lang: str = "en") -> str:
    """The per-epoch records as an HTML table, its columns named in ``lang``."""
    if not history:
        return f"<p>{html.escape(text(lang, 'report.no_epoch'))}</p>"
    keys = list(history[0])
    head = "".join(f"<th>{html.escape(name(lang, k))}</th>" for k in keys)
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
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
:lang(ko) body {{ font-family: "NanumGothic", "Noto Sans CJK KR", "Malgun Gothic",
  "Apple SD Gothic Neo", sans-serif; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }}
figure {{ margin: 1.5rem 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{heading}</h1>
<p>{summary}</p>
<h2>{options_title}</h2><table>{options}</table>
<h2>{epochs_title}</h2>{epochs}
<h2>{pictures_title}</h2>{figures}
</body></html>
"""
